"""Filters shared by list endpoints: `?updated_since=` for delta sync, and ids of related records the
caller may see."""

from datetime import UTC

from django import forms
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import BaseFilterBackend

INSTANT = "An ISO 8601 date and time with an offset, e.g. 2026-11-21T09:30:00Z."


def instant(raw: str):
    """`raw` as a datetime in UTC, or None when it is not an ISO 8601 date and time with an offset."""
    try:
        # An unescaped "+" in a query string arrives as a space.
        value = parse_datetime(raw.strip().replace(" ", "+"))
    except ValueError:
        return None
    if value is None or value.tzinfo is None:
        return None
    try:
        # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts (up to ±23:59).
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None


def parse_instant(raw: str, name: str):
    value = instant(raw)
    if value is None:
        raise ValidationError({name: [INSTANT]})
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


class _InstantField(IsoDateTimeField):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = instant(value)
        if parsed is None:
            raise forms.ValidationError(INSTANT, code="invalid")
        return parsed


class InstantFilter(filters.IsoDateTimeFilter):
    """An instant as `?updated_since=` takes it: ISO 8601 with an offset, compared in UTC."""

    field_class = _InstantField


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


BLANK = "Give a value, or leave the parameter out."


def reject_blank(query_params, names) -> None:
    """400 for a parameter given with no value (`?case=`): django-filter and DRF read it as absent, which would
    answer as if the caller had not asked to filter. For parameters that cannot be an empty string."""
    errors = {name: [BLANK] for name in names if any(not raw.strip() for raw in query_params.getlist(name))}
    if errors:
        raise ValidationError(errors)


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter held to the types the schema declares. django-filter drops a filter given an empty value
    (`?case=`) or a boolean it cannot read (`?is_active=yes`), answering every row as if the caller had not
    asked to filter; here both answer 400, naming the parameter. (An empty free-text filter is a valid string
    and still means "no filter".)"""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            declared = filterset_class.base_filters.items()
            params = request.query_params
            reject_blank(params, [name for name, f in declared if not isinstance(f, filters.CharFilter)])
            booleans = [name for name, f in declared if isinstance(f, filters.BooleanFilter)]
            errors = {
                name: ["true or false."]
                for name in booleans
                if any(raw not in ("true", "false") for raw in params.getlist(name))
            }
            if errors:
                raise ValidationError(errors)
        return super().filter_queryset(request, queryset, view)
