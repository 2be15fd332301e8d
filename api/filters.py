"""`?updated_since=` for mobile delta sync: rows changed at or after an ISO 8601 instant with an offset."""

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend


def parse_instant(raw: str, name: str):
    try:
        # An unescaped "+" in a query string arrives as a space.
        value = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError(
            {name: ["An ISO 8601 date and time with an offset, e.g. 2026-11-21T09:30:00Z."]}
        )
    return value


class UpdatedSinceFilter(BaseFilterBackend):
    """Applies to list actions of models with an `updated_at` column. Includes rows changed exactly at the
    given instant, so a client that passes the newest `updated_at` it holds misses nothing (it may see that
    row again)."""

    param = "updated_since"

    def _applies(self, view) -> bool:
        return getattr(view, "action", None) == "list" and getattr(view, "delta_sync", True)

    def filter_queryset(self, request, queryset, view):
        raw = request.query_params.get(self.param)
        if raw is None or not self._applies(view):
            return queryset
        return queryset.filter(updated_at__gte=parse_instant(raw, self.param))

    def get_schema_operation_parameters(self, view):
        if not self._applies(view):
            return []
        return [
            {
                "name": self.param,
                "required": False,
                "in": "query",
                "description": "Only rows changed at or after this instant (ISO 8601 with offset).",
                "schema": {"type": "string", "format": "date-time"},
            }
        ]
