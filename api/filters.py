"""Filters shared by list endpoints: `?updated_since=` for delta sync, and ids of related records the
caller may see."""

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend


def parse_instant(raw: str, name: str):
    try:
        # An unescaped "+" in a query string arrives as a space.
        value = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationError({name: ["An ISO 8601 date and time with an offset, e.g. 2026-11-21T09:30:00Z."]})
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


class ScopedIdFilter(filters.UUIDFilter):
    """Filter by a related record the caller may see. Naming any other id (another clinician's case, or
    one that does not exist) answers 404 alike, so the filter cannot be used to probe for records."""

    def __init__(self, selector, **kwargs):
        self.selector = selector
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        if not self.selector(user=self.parent.request.user).filter(pk=value).exists():
            raise NotFound(f"No {self.field_name} {value} within your reach.")
        return super().filter(qs, value)


class NameSearchFilter(filters.CharFilter):
    """Case-insensitive match on any of the given fields."""

    def __init__(self, fields, **kwargs):
        self.search_fields = fields
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        condition = Q()
        for field in self.search_fields:
            condition |= Q(**{f"{field}__icontains": value.strip()})
        return qs.filter(condition)
