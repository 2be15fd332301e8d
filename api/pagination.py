"""Keyset (cursor) pagination on `(created_at, id)`.

A cursor is the position of the last row a page showed, so a page never repeats or skips rows when
others are inserted meanwhile, and page 5,000 costs what page 1 costs (an index range scan on
`(created_at, id)`, no OFFSET). Cursors are opaque to clients: base64 of JSON.
"""

import base64
import binascii
import json
from datetime import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.db.models.fields.tuple_lookups import TupleGreaterThan, TupleLessThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _encode(direction: str, created_at: datetime, pk) -> str:
    raw = json.dumps([direction, created_at.isoformat(), str(pk)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, pk_field) -> tuple[str, datetime, object]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, created_at, pk = json.loads(raw)
        if direction not in ("n", "p"):
            raise ValueError(direction)
        created = datetime.fromisoformat(created_at)
        if created.tzinfo is None:
            raise ValueError(created_at)
        return direction, created, pk_field.to_python(pk)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, DjangoValidationError) as exc:
        raise ValidationError({"cursor": ["This cursor is not one this API issued."]}, code="invalid_cursor") from exc


def _value(row, name):
    """A column of a row: a model object's attribute, or a key of a plain row (`.values()`)."""
    return row[name] if isinstance(row, dict) else getattr(row, name)


def parse_page_size(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
    return size


class CreatedCursorPagination(BasePagination):
    """Orders by `(created_at, id)`; a view may name another (time, unique id) pair in `cursor_ordering`."""

    ordering = ("created_at", "id")

    def paginate_queryset(self, queryset, request, view=None):
        size, position = self.position(request, view, queryset.model)
        paged = getattr(view, "paged", None)
        rows = self.ordered(queryset, position)[: size + 1] if paged is None else paged(queryset, position, size + 1)
        return self.page_of(list(rows), size, position)

    def position(self, request, view, model) -> tuple[int, tuple | None]:
        """The page size and the cursor's position (None on the first page) the request asks for: 400 for
        either malformed."""
        self.request = request
        self.ordering = getattr(view, "cursor_ordering", self.ordering)
        size = parse_page_size(request)
        cursor = request.query_params.get("cursor")
        return size, _decode(cursor, model._meta.get_field(self.ordering[1])) if cursor else None

    def ordered(self, queryset, position):
        """The rows from `position` on, in the page's direction (read one more than a page to know of a next)."""
        queryset = self.order(queryset, position)
        if position is None:
            return queryset
        created, pk = F(self.ordering[0]), F(self.ordering[1])
        beyond = TupleGreaterThan if position[0] == "n" else TupleLessThan
        return queryset.filter(beyond((created, pk), position[1:]))

    def order(self, queryset, position):
        """The rows in the page's direction: the cursor's order, or its reverse to read a page back."""
        if position is None or position[0] == "n":
            return queryset.order_by(*self.ordering)
        return queryset.order_by(*(f"-{name}" for name in self.ordering))

    def page_of(self, rows: list, size: int, position) -> list:
        """The page in `rows` (up to one more than `size`, as `ordered` reads them), and its links."""
        ordering = self.ordering
        more = len(rows) > size
        rows = rows[:size]
        backwards = position is not None and position[0] == "p"
        if backwards:
            rows.reverse()

        self.next_cursor = self.previous_cursor = None
        if rows:
            first, last = rows[0], rows[-1]
            if more or backwards:
                self.next_cursor = _encode("n", _value(last, ordering[0]), _value(last, ordering[1]))
            if (more and backwards) or (position is not None and not backwards):
                self.previous_cursor = _encode("p", _value(first, ordering[0]), _value(first, ordering[1]))
        elif position is not None:
            # An empty page past either end still links back to where the caller came from.
            opposite = "p" if position[0] == "n" else "n"
            cursor = _encode(opposite, position[1], position[2])
            self.previous_cursor, self.next_cursor = (cursor, None) if opposite == "p" else (None, cursor)
        return rows

    def _link(self, cursor):
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), "cursor", cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.next_cursor),
                "previous": self._link(self.previous_cursor),
                "results": data,
            }
        )

    def get_first_page_link(self):
        return remove_query_param(self.request.build_absolute_uri(), "cursor")

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next page, or null on the last page."},
                "previous": {**link, "description": "The previous page, or null on the first page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "cursor",
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PAGE_SIZE,
                    "default": DEFAULT_PAGE_SIZE,
                },
            },
        ]


class SinglePage(BasePagination):
    """A short, complete collection (reference data, what is due now) answered as one page in the same envelope as
    every list, so that clients read all lists alike."""

    def paginate_queryset(self, queryset, request, view=None):
        return list(queryset)

    def get_paginated_response(self, data):
        return Response({"next": None, "previous": None, "results": data})
