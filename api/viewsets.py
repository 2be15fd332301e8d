"""The one way to write an endpoint: every resource's viewset derives from `ResourceViewSet`.

A resource declares what differs and inherits the handlers; the HTTP concerns happen here and nowhere else:
scoping (from `selector`, api/scoping.py), pagination, read audits (`audited`), ETags on single-object answers,
If-Match (required on PATCH, optional on the POST actions named in `if_match_actions`), Idempotency-Key on creates.

    class ClientViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
        resource = "client"                          # the audit trail's name for these records, the services' keyword
        selector = selectors.clients_visible_to      # what the caller may reach
        serializer_class = ClientSerializer          # what every answer shows
        request_serializers = {"create": ClientWriteSerializer, "partial_update": ClientWriteSerializer}
        create_service = services.client_create      # (actor=, **validated) → record
        update_service = services.client_update      # (actor=, client=, expected_version=, **validated) → record
        problems = {"archive": ["not_allowed"]}      # codes its services raise, from api/problems.py

        @action(detail=True, methods=["post"])
        def archive(self, request, pk=None):
            "Archive a client."                      # the operation's summary in the contract
            return self.act(services.client_archive)  # (actor=, client=, **validated) → record

`request_serializers` also tells the OpenAPI schema each operation's request body (api/schema.py).
"""

import functools
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import EmptyResultSet
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.db.models import F, Lookup
from django.db.models.query import ModelIterable, ValuesIterable, get_related_populators
from django.http import Http404, HttpResponse
from django.utils import timezone
from django_filters import filters as df_filters
from django_filters import rest_framework as df_rest
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers, status
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.settings import api_settings

from clinical.models import Role, User
from kernel import clock

from .audit import audit_read
from .etags import expected_version, with_etag
from .filters import InstantFilter, ScopedIdFilter, StrictFilterBackend, UpdatedSinceFilter, reject_blank
from .idempotency import idempotent
from .pagination import CreatedCursorPagination
from .permissions import handles
from .problems import CODES
from .scoping import ScopedViewSet

CLINICIANS = [Role.CLINICIAN, Role.SUPERVISOR]


class KnownQueryParameters:
    """A query parameter the operation does not take answers 400 naming it, after authentication and permissions:
    a misspelt `?updated_sinse=` must not quietly return everything. What an operation takes is what the contract
    lists for it (a test holds the two together): its filters, pagination and `updated_since` where it answers
    pages, its declared query serializer, `format` where it has several representations."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not handles(self, request.method):
            return  # a method the operation does not have: 405 comes first
        taken = self.query_parameter_names()
        unknown = sorted(set(request.query_params) - taken)
        if unknown:
            listed = ", ".join(sorted(taken)) or "none"
            message = f"This operation takes no such query parameter (it takes: {listed})."
            raise ValidationError({name: [ErrorDetail(message, code="unknown_parameter")] for name in unknown})

    def query_parameter_names(self) -> set[str]:
        names = set()
        if len(self.renderer_classes) > 1:
            names.add(api_settings.URL_FORMAT_OVERRIDE)
        return names


# ---------------------------------------------------------------- the plain-row read path


def plain_datetime(value, zone=None) -> str | None:
    """As DRF's DateTimeField writes it: ISO 8601 in the current time zone (`zone`, where the caller has read it
    once for a whole page), UTC as Z."""
    if not value:
        return None
    text = timezone.localtime(value, zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def plain_date(value) -> str | None:
    """As DRF's DateField writes it."""
    return None if value is None else value.isoformat()


def _converter(field) -> Callable | None:
    """How one serializer field writes a column's value (not None): None where the value is written as it is
    (the renderer, orjson, writes UUIDs as DRF does), else a function; a field's own `to_representation` where
    there is no shortcut, so the answer is the serializer's by construction."""
    if isinstance(field, relations.PrimaryKeyRelatedField):
        return None if field.pk_field is None else field.pk_field.to_representation
    if isinstance(field, drf_fields.DateTimeField):
        iso = getattr(field, "format", api_settings.DATETIME_FORMAT) == api_settings.DATETIME_FORMAT == "iso-8601"
        return plain_datetime if iso and not hasattr(field, "timezone") else field.to_representation
    if isinstance(field, drf_fields.DateField):
        iso = getattr(field, "format", api_settings.DATE_FORMAT) == api_settings.DATE_FORMAT == "iso-8601"
        return plain_date if iso else field.to_representation
    if isinstance(field, drf_fields.UUIDField):
        return None if field.uuid_format == "hex_verbose" else field.to_representation
    if type(field) in (drf_fields.CharField, drf_fields.IntegerField, drf_fields.BooleanField):
        return None  # the column's own type: str, int, bool
    if type(field) is drf_fields.ChoiceField and all(isinstance(key, str) for key in field.choices):
        return None
    return field.to_representation


class PlainShape:
    """A serializer's answer built from plain rows (`.values()`), field for field and in its order, without
    building the serializer per call: its fields are read once per process, and each row is one dict
    comprehension. Fields the serializer nests or computes (a `SerializerMethodField`, a nested serializer, a
    many-to-many) are named in `computed`: the view fills them in the row, already as the answer shows them.
    A contract test holds each shape to its serializer for the same rows (tests/api/test_plain_reads.py)."""

    def __init__(self, serializer_class, computed: tuple[str, ...] = ()):
        self.serializer_class = serializer_class
        self.fields: list[tuple[str, str, Callable | None]] = []  # (answer key, row key, converter)
        for name, field in serializer_class().fields.items():
            if field.write_only:
                continue
            if name in computed:
                self.fields.append((name, name, None))
                continue
            if isinstance(field, (serializers.BaseSerializer, relations.ManyRelatedField)) or field.source == "*":
                raise TypeError(f"{serializer_class.__name__}.{name} is nested or computed: name it in `computed`")
            if isinstance(field, drf_fields.SerializerMethodField) or "." in field.source:
                raise TypeError(f"{serializer_class.__name__}.{name} is computed: name it in `computed`")
            self.fields.append((name, field.source, _converter(field)))
        self.columns = tuple(key for name, key, _ in self.fields if name not in computed)

    def __call__(self, row: dict) -> dict:
        return {
            name: value if (value := row[key]) is None or convert is None else convert(value)
            for name, key, convert in self.fields
        }

    def many(self, rows: list[dict]) -> list[dict]:
        """`[shape(row) for row in rows]`, the current time zone read once for all of them."""
        zone = timezone.get_current_timezone()
        fields = [
            (name, key, functools.partial(plain_datetime, zone=zone) if convert is plain_datetime else convert)
            for name, key, convert in self.fields
        ]
        return [
            {name: v if (v := row[key]) is None or convert is None else convert(v) for name, key, convert in fields}
            for row in rows
        ]


@functools.cache
def plain_shape(serializer_class, computed: tuple[str, ...] = ()) -> PlainShape:
    """The shape of a serializer's answer, built once per process."""
    return PlainShape(serializer_class, computed)


@functools.cache
def _statement(model, names: tuple[str, ...], key: str, order_by: tuple[str, ...]):
    meta, quote = model._meta, connection.ops.quote_name
    fields = [meta.get_field(name) for name in names]
    columns = ", ".join(quote(field.column) for field in fields)
    order = ", ".join(quote(meta.get_field(name).column) for name in order_by)
    sql = (
        f"SELECT {columns} FROM {quote(meta.db_table)} "  # noqa: S608 - the model's own names
        f"WHERE {quote(meta.get_field(key).column)} = ANY(%s) ORDER BY {order}"
    )
    converters = [(index, field.from_db_value) for index, field in enumerate(fields) if hasattr(field, "from_db_value")]
    return sql, converters


def rows_of(model, names: tuple[str, ...], *, where: str, among: list, order_by: tuple[str, ...]) -> list[dict]:
    """The rows of `model` whose `where` column is one of `among`, as `.values(*names)` would give them (each field's
    own converter applied: encrypted columns are decrypted), in `order_by` order. One statement whose SQL is written
    once per process from the model's table and column names, so a hot read's page-wide lookups (a note's addenda,
    its goals) cost no ORM building and compiling per request. `among` may be empty: no query then."""
    if not among:
        return []
    sql, converters = _statement(model, names, where, order_by)
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(among)])
        rows = cursor.fetchall()
    if converters:
        rows = [list(row) for row in rows]
        for row in rows:
            for index, convert in converters:
                row[index] = convert(row[index], None, connection)
    return [dict(zip(names, row, strict=True)) for row in rows]


# Stand-ins for the caller and the record a path names while a lookup statement is compiled: not version 4, so no
# stored id (uuid4) can ever equal them; constants, so that compiling takes nothing from the process's randomness.
_CALLER, _RECORD = uuid.UUID(int=1), uuid.UUID(int=2)
_CALLER_SLOT, _RECORD_SLOT = object(), object()
_lookups: dict = {}


def _frozen(params) -> bool:
    """A moment among a compiled statement's parameters that is no stand-in: a selector that read `timezone.now()`
    rather than `kernel.clock.now()` (or `clock.now()` where the statement stands in no clock). Compiled, it would
    stay the moment of compiling: every compiled statement refuses it, and the view takes the ORM path."""
    return any(isinstance(p, date) for p in params)


def _no_queries(execute, sql, params, many, context):
    raise TypeError("the selector reads the database while building its queryset")


class CompiledLookup:
    """The SQL of "this record, if the caller may see it" for a plain `retrieve`, compiled once per process per
    viewset and role, and run with each request's caller and record: the scoped queryset is built by the selector
    for a stand-in caller of that role (selectors decide by role, and use the caller's id as a parameter), its
    parameters mapped back to the real ones. It refuses to exist (and the view falls back to the ORM) unless the
    stand-ins are the only request values in the statement; a test compares it with a fresh compilation for real
    callers of every role."""

    def __init__(self, view):
        real = view.request.user
        view.request.user = User(id=_CALLER, role=real.role)  # `id`, not `pk`: no default id drawn
        try:
            # A selector that read the database while building would bake the stand-in's answer into the statement.
            with connection.execute_wrapper(_no_queries):
                queryset = view.plain_queryset().filter(pk=_RECORD)[:2]
                compiler = queryset.query.get_compiler(using=queryset.db)
                self.sql, params = compiler.as_sql()
        finally:
            view.request.user = real
        slots = {_CALLER: _CALLER_SLOT, _RECORD: _RECORD_SLOT}
        self.params = [slots.get(value, value) if isinstance(value, uuid.UUID) else value for value in params]
        self.names = [*queryset.query.extra_select, *queryset.query.values_select, *queryset.query.annotation_select]
        converters = compiler.get_converters([column for column, _, _ in compiler.select])
        self.converters = [(index, convs, expression) for index, (convs, expression) in converters.items()]
        slotted = [p for p in self.params if p is _CALLER_SLOT or p is _RECORD_SLOT]
        if slotted.count(_RECORD_SLOT) != 1 or _CALLER_SLOT not in slotted or real.pk in params or _frozen(params):
            raise TypeError(f"{type(view).__name__}: the lookup statement depends on more than the caller's role")

    def row(self, user, pk) -> dict | None:
        row = _one_row(self, user, pk)
        return None if row is None else dict(zip(self.names, row, strict=True))


def _one_row(statement, user, pk) -> list | None:
    """The row a compiled lookup (`sql`, `params` with the caller's and the record's slots, `converters`) finds for
    this caller and record, its values converted as the ORM converts them; None unless there is exactly one."""
    params = [user.pk if p is _CALLER_SLOT else pk if p is _RECORD_SLOT else p for p in statement.params]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    if len(rows) != 1:
        return None
    row = list(rows[0])
    for index, convs, expression in statement.converters:
        for convert in convs:
            row[index] = convert(row[index], expression, connection)
    return row


def compiled_lookup(view) -> CompiledLookup | None:
    return _kept(_lookups, (type(view), view.action, view.request.user.role), lambda: CompiledLookup(view))


def _kept(statements: dict, key, compile_one):
    """The statement compiled once per process under `key`; None where it cannot be (not a fixed statement, or none
    at all: a role that sees nothing), and the caller takes the ORM path."""
    if key not in statements:
        try:
            statements[key] = compile_one()
        except (TypeError, EmptyResultSet):
            statements[key] = None
    return statements[key]


# ---------------------------------------------------------------- list statements compiled once per shape

# Stand-ins for a list's request values while its statement is compiled, as `_CALLER` above: the filters' ids and
# choices, the cursor's position. Constants that no stored row can hold (ids not version 4; a time in year 1).
_FILTER_IDS = [uuid.UUID(int=16 + index) for index in range(16)]
_FILTER_TIMES = [datetime(1, 1, 1, 0, 0, 0, 200_000 + index, tzinfo=UTC) for index in range(16)]
_AFTER_ID = uuid.UUID(int=3)
_AFTER_TIME = datetime(1, 1, 1, 0, 0, 0, 123457, tzinfo=UTC)
_CLOCK = datetime(1, 1, 1, 0, 0, 0, 300_000, tzinfo=UTC)  # what `kernel.clock.now()` says while compiling
_LIMIT = 987_654_321  # the page size and one more
_lists: dict = {}


def _simple_filters(filterset_class, query_params) -> dict | None:
    """The filters this request gives, as their form would clean them ({name: value}, in the filterset's order), when
    each is a plain comparison (`ScopedIdFilter`, `UUIDFilter`, `ChoiceFilter`, an `InstantFilter`'s bound) given once
    with a valid value. None otherwise: the filterset then reads the request itself, so every refusal is its own."""
    given = {}
    for name, f in filterset_class.base_filters.items():
        if name not in query_params:
            continue
        if type(f) not in (ScopedIdFilter, df_filters.UUIDFilter, df_filters.ChoiceFilter, InstantFilter):
            return None
        exact = f.lookup_expr == "exact" or (type(f) is InstantFilter and f.lookup_expr in ("gt", "gte", "lt", "lte"))
        if f.method is not None or not exact or f.distinct or f.exclude:
            return None
        values = query_params.getlist(name)
        if len(values) != 1 or not values[0].strip():
            return None
        raw = values[0]
        if type(f) is InstantFilter:
            try:
                given[name] = f.field.clean(raw)  # as the filterset's form cleans it
            except DjangoValidationError:
                return None
        elif type(f) is df_filters.ChoiceFilter:
            choices = f.extra.get("choices")
            if callable(choices) or raw == f.null_value or raw not in {str(key) for key, _ in choices or ()}:
                return None
            given[name] = raw
        else:
            try:
                given[name] = uuid.UUID(raw.strip())  # as forms.UUIDField cleans it
            except ValueError:
                return None
    return given


def _plain_filterset(filterset_class) -> bool:
    """A filterset that filters as django-filter's `FilterSet` does: each given filter's `filter`, in order."""
    return all(
        getattr(filterset_class, name) is getattr(df_rest.FilterSet, name)
        for name in ("qs", "filter_queryset", "get_form_class", "form", "__init__")
    )


def _choice_stand_in(name: str) -> str:
    return f"\x00{name}"  # no choice holds a NUL


class _Slot:
    """Where a request's value goes in a compiled statement's parameters."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


def _slot(value, slots: dict):
    try:
        return slots.get(value, value)
    except TypeError:  # unhashable (a list of values): not a stand-in
        return value


class _AnyOf(Lookup):
    """`column = ANY(array)`: the walked ids, read by the primary key's index (Django's `in` writes a list)."""

    lookup_name = "any_of"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


class CompiledList:
    """The SQL of one page of a list, compiled once per process per viewset, action, role and "shape" of the
    request (which filters it gives, whether it has a cursor and in which direction), and run with each request's
    caller, filter values, cursor position and page size. The statement is built exactly as the ORM path builds
    it (the selector for a stand-in caller of that role, the filters' own `filter` in the filterset's order, the
    view's `paged`: the cursor's order and condition, one more row than a page, or the ids walked first), its
    stand-in values mapped back to slots.
    It refuses to exist (the view then takes the ORM path) unless the stand-ins are the only request values in it;
    a test compares it with a fresh compilation for real callers of every role."""

    def __init__(self, view, build, model, filters: dict, position):
        real = view.request.user
        view.request.user = User(id=_CALLER, role=real.role)
        stand_ins = {_CLOCK: _Slot("clock")}
        try:
            with connection.execute_wrapper(_no_queries), clock.standing_in(_CLOCK):
                queryset = build()
                if queryset._iterable_class is not ValuesIterable or queryset.model is not model:
                    raise TypeError("not plain rows of the model paged")
                declared = view.filterset_class.base_filters if filters else {}
                for index, (name, f) in enumerate(declared.items()):
                    if name in filters:
                        if type(f) is df_filters.ChoiceFilter:
                            value = _choice_stand_in(name)
                        else:
                            value = (_FILTER_TIMES if type(f) is InstantFilter else _FILTER_IDS)[index]
                        stand_ins[value] = _Slot(("filter", name))
                        queryset = df_filters.Filter.filter(f, queryset, value)
                if position is not None:
                    stand_ins[_AFTER_TIME], stand_ins[_AFTER_ID] = _Slot("after time"), _Slot("after id")
                    position = (position[0], _AFTER_TIME, _AFTER_ID)
                queryset = view.paged(queryset, position, _LIMIT)
                query = queryset.query
                compiler = query.get_compiler(using=queryset.db)
                sql, params = compiler.as_sql()
        finally:
            view.request.user = real
        # The ORM writes the limit into the SQL: a parameter here, so that one statement serves every page size.
        # It ends the statement, or the walk of a list that walks first (`paged`), with no parameter after it.
        limit = f" LIMIT {_LIMIT}"
        before, _, after = sql.partition(limit)
        if sql.count(str(_LIMIT)) != 1 or limit not in sql or "%s" in after:
            raise TypeError(f"{type(view).__name__}: the list statement's limit is not its last parameter")
        self.sql = f"{before} LIMIT %s{after}"
        caller = stand_ins[_CALLER] = _Slot("caller")
        self.params = [*(_slot(value, stand_ins) for value in params), _Slot("limit")]
        self.names = (
            list(query.selected)
            if query.selected
            else [
                *query.extra_select,
                *query.values_select,
                *query.annotation_select,
            ]
        )
        converters = compiler.get_converters([column for column, _, _ in compiler.select[: compiler.col_count]])
        self.converters = [(index, convs, expression) for index, (convs, expression) in converters.items()]
        once = all(
            self.params.count(slot) == 1 for slot in stand_ins.values() if slot is not caller and slot.key != "clock"
        )
        if not once or _frozen(self.params) or real.pk in params:
            raise TypeError(f"{type(view).__name__}: the list statement depends on more than its shape")

    def rows(self, user, filters: dict, position, size: int) -> list[dict]:
        """The page's rows and the one after it (which only tells that there is more: its columns are left as
        the database gave them, an encrypted one not decrypted)."""
        values = {
            "caller": user.pk,
            "limit": size + 1,
            "clock": timezone.now(),
            **{("filter", name): value for name, value in filters.items()},
        }
        if position is not None:
            values["after time"], values["after id"] = position[1], position[2]
        params = [values[p.key] if type(p) is _Slot else p for p in self.params]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        names, converters = self.names, self.converters
        if converters:
            rows = [list(row) for row in rows]
            for row in rows[:size]:
                for index, convs, expression in converters:
                    for convert in convs:
                        row[index] = convert(row[index], expression, connection)
        return [dict(zip(names, row, strict=True)) for row in rows]


class CompiledExists:
    """ "Is this record within the caller's reach": `ScopedIdFilter`'s check, compiled once per process per filter and
    role as `CompiledLookup` is, run with each request's caller and id."""

    def __init__(self, f, user):
        with connection.execute_wrapper(_no_queries):
            queryset = f.selector(user=User(id=_CALLER, role=user.role)).filter(pk=_RECORD)
            query = queryset.query.exists()
            self.sql, params = query.get_compiler(using=queryset.db).as_sql()
        slots = {_CALLER: _CALLER_SLOT, _RECORD: _RECORD_SLOT}
        self.params = [_slot(value, slots) for value in params]
        if self.params.count(_RECORD_SLOT) != 1 or user.pk in params or _frozen(params):
            raise TypeError(f"{f.field_name}: the reach statement depends on more than the caller's role")

    def __call__(self, user, pk) -> bool:
        params = [user.pk if p is _CALLER_SLOT else pk if p is _RECORD_SLOT else p for p in self.params]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            return cursor.fetchone() is not None


class CompiledGet:
    """`queryset.get(pk=…)` as model instances (with their `select_related` rows and annotations, as the ORM's own
    iterable builds them), compiled once per process per key and role as `CompiledLookup` is: `build(user=…)` (a
    selector) gives the scoped queryset for a stand-in caller of the role. For a hot write's lookup (the submission
    POST's assignment, found, locked and read with what the service checks)."""

    def __init__(self, build, user):
        with connection.execute_wrapper(_no_queries):
            queryset = build(user=User(id=_CALLER, role=user.role)).filter(pk=_RECORD)[:2]
            compiler = queryset.query.get_compiler(using=queryset.db)
            self.sql, params = compiler.as_sql()
        slots = {_CALLER: _CALLER_SLOT, _RECORD: _RECORD_SLOT}
        self.params = [_slot(value, slots) for value in params]
        depends = self.params.count(_RECORD_SLOT) != 1 or user.pk in params or _frozen(params)
        if depends or queryset._iterable_class is not ModelIterable:
            raise TypeError("the lookup statement depends on more than the caller's role")
        select, klass_info = compiler.select, compiler.klass_info
        self.model, self.db = klass_info["model"], queryset.db
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [column[0].target.attname for column in select[self.start : self.end]]
        self.related = get_related_populators(klass_info, select, self.db)
        self.annotations = compiler.annotation_col_map
        converters = compiler.get_converters([column for column, _, _ in select[: compiler.col_count]])
        self.converters = [(index, convs, expression) for index, (convs, expression) in converters.items()]

    def get(self, user, pk):
        """The instance, or None when the caller may not reach it (or it does not exist)."""
        row = _one_row(self, user, pk)
        if row is None:
            return None
        obj = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
        for populator in self.related:
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


_gets: dict = {}


def compiled_get(key, build, user, pk):
    """`build(user=user).get(pk=pk)` through a `CompiledGet` kept per `key` and role (the ORM where it cannot be
    compiled); None where there is no such record within the caller's reach."""
    statement = _kept(_gets, (key, user.role), lambda: CompiledGet(build, user))
    if statement is None:
        return build(user=user).filter(pk=pk).first()
    return statement.get(user, pk)


def _within_reach(f, user, pk) -> bool:
    statement = _kept(_lists, (f, user.role), lambda: CompiledExists(f, user))
    if statement is None:
        return f.selector(user=user).filter(pk=pk).exists()
    return statement(user, pk)


PAGING = {"cursor", "page_size"}


class ResourceViewSet(KnownQueryParameters, ScopedViewSet):
    """Clinicians and supervisors by default (a resource names other roles in `allowed_roles`)."""

    resource: str = ""
    # The services' keyword for the object an action works on, where it differs from `resource`.
    object_keyword: str = ""
    # Reads of these records write an audit event in the request's transaction (ATOMIC_REQUESTS): clinical
    # records are audited; reference data (the exercise library, the measures) and practice administration are not.
    audited = True
    etag = True
    if_match_actions: tuple[str, ...] = ()
    # The codes each action's services raise (api/problems.py); the contract derives the rest (api/schema.py).
    problems: dict[str, list[str]] = {}
    request_serializers: dict = {}
    # Query parameters an action reads beyond list filters and pagination, validated like a body.
    query_serializers: dict = {}
    # The actions that answer pages (filters and pagination apply to their GET).
    page_actions: tuple[str, ...] = ("list",)
    filterset_class = None
    # Idempotency-Key on create: False (optional), True (required) or a function of the request.
    idempotency_required = False
    read_scopes = ["clinical:read"]
    write_scopes = ["clinical:write"]
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "patch", "head", "options"]
    # The plain-row read path for hot reads: these actions (of "list", "retrieve") read `.values()` rows and shape
    # them with the serializer's `PlainShape` instead of building model objects and running the serializer. The
    # serializer still describes the answer in the contract; `plain_computed` names its fields the view fills
    # itself (`fill_plain`), `plain_columns` any further columns `fill_plain` needs.
    plain_actions: tuple[str, ...] = ()
    plain_computed: tuple[str, ...] = ()
    plain_columns: tuple[str, ...] | dict = ()
    # A selector that finds the ids of one unfiltered page of the list faster than walking the scoped rows in the
    # cursor's order (`page_ids(user=, position=, size=)`: a list of ids, or None to walk), as a caseload's
    # submissions are found case by case. The page is then the scoped rows with those ids, paged as any other.
    page_ids = None
    # Roles whose unfiltered list walks first: the ids the selector keeps, in the cursor's order, then the page's
    # rows by those ids, in one statement (`paged`). For a caller who sees a share of a large table through a
    # column an index holds beside the cursor's order (a supervisor's team's submissions, by case), so that the
    # rows the walk skips are read from the index alone, never from the table.
    walk_first_roles: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if callable(cls.__dict__.get("page_ids")):
            cls.page_ids = staticmethod(cls.__dict__["page_ids"])
        unknown = {code for codes in cls.problems.values() for code in codes} - CODES.keys()
        if unknown:
            raise TypeError(f"{cls.__name__}.problems names codes not in api/problems.py: {', '.join(sorted(unknown))}")
        for name in ("create_service", "update_service", "idempotency_required"):
            if callable(cls.__dict__.get(name)) and not isinstance(cls.__dict__[name], bool):
                setattr(cls, name, staticmethod(cls.__dict__[name]))

    def perform_content_negotiation(self, request, force=False):
        # OPTIONS answers no body: whatever it accepts, there is nothing to refuse.
        return super().perform_content_negotiation(request, force=force or request.method == "OPTIONS")

    def options(self, request, *args, **kwargs):
        """The methods this resource takes, in `Allow`, and no body: the same for a JSON, CSV or PNG resource.
        (Browsers' CORS preflights are answered by the CORS middleware before any view.)"""
        return HttpResponse(status=status.HTTP_204_NO_CONTENT)

    # ------------------------------------------------------------ input

    def query_parameter_names(self) -> set[str]:
        names = super().query_parameter_names()
        if self.action in self.page_actions and self.request.method in ("GET", "HEAD"):
            if self.paginator is not None:
                names |= {p["name"] for p in self.paginator.get_schema_operation_parameters(self)}
            for backend in self.filter_backends:
                if issubclass(backend, DjangoFilterBackend):  # its filters are the filterset's
                    names |= set(getattr(getattr(self, "filterset_class", None), "base_filters", ()))
                else:
                    names |= {p["name"] for p in backend().get_schema_operation_parameters(self)}
        if self.action in self.query_serializers:
            names |= set(self.query_serializers[self.action]().fields)
        return names

    def validated(self, **kwargs) -> dict:
        """The request body, validated by this action's request serializer ({} for an action that takes none)."""
        serializer_class = self.request_serializers.get(self.action)
        if serializer_class is None:
            return {}
        # PATCH changes what it names and nothing else.
        kwargs.setdefault("partial", self.action == "partial_update")
        serializer = serializer_class(data=self.request.data, context=self.get_serializer_context(), **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def validated_query(self) -> dict:
        """This action's query parameters, validated by its query serializer. None of them can be an empty string
        (`?clinician=` answers 400, not "no filter")."""
        serializer_class = self.query_serializers[self.action]
        reject_blank(self.request.query_params, serializer_class().fields)
        query = serializer_class(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return dict(query.validated_data)

    def expected_version(self) -> int | None:
        """The version the caller's If-Match names: required on PATCH (428 without), optional on the actions in
        `if_match_actions`, not read anywhere else. The service compares it under a row lock (412 when stale)."""
        if self.action == "partial_update":
            return expected_version(self.request)
        if self.action in self.if_match_actions:
            return expected_version(self.request, required=False)
        return None

    # ------------------------------------------------------------ output

    def serializer_context_for(self, rows) -> dict:
        """Extra context the serializer needs for these rows, computed once for the whole page (a query for all
        of them, never one per row)."""
        return {}

    def reads_plain(self) -> bool:
        return self.action in self.plain_actions and not getattr(self, "swagger_fake_view", False)

    def plain_shape(self) -> PlainShape:
        return plain_shape(self.get_serializer_class(), self.plain_computed)

    def plain_queryset(self, queryset=None):
        """The scoped queryset (or this one, shaped) as plain rows: the serializer's columns and `plain_columns`
        (names, or a dict of name: expression)."""
        extra = self.plain_columns
        names, expressions = (extra, {}) if not isinstance(extra, dict) else ((), extra)
        queryset = self.get_queryset() if queryset is None else self.shape_queryset(queryset)
        # Prefetches are for model objects; the view fills nested fields itself (`fill_plain`).
        return queryset.prefetch_related(None).values(*self.plain_shape().columns, *names, **expressions)

    def walks_first(self) -> bool:
        """Whether this list walks the scoped ids first (`walk_first_roles`): unfiltered, on the cursor's order."""
        return (
            self.request.user.role in self.walk_first_roles
            and self.action in self.page_actions
            and type(self.paginator) is CreatedCursorPagination
            and not self.request.query_params.keys() - PAGING
        )

    def paged(self, rows, position, limit):
        """`rows` from the cursor's `position` on, at most `limit` of them, in the page's direction; the paginator
        and the compiled list (`CompiledList`) both page through here. Where the list walks first, the ids the
        selector keeps are walked (an index holding the scope's column walks them without reading a row) and
        the page's rows read by those ids, in one statement: one snapshot, so the rows are the ones the scope
        kept."""
        paginator = self.paginator
        if not self.walks_first():
            return paginator.ordered(rows, position)[:limit]
        walk = paginator.ordered(self.selector(user=self.request.user).values("pk"), position)[:limit]
        by_id = rows.model.objects.filter(_AnyOf(F("pk"), ArraySubquery(walk)))
        shaped = self.plain_queryset(by_id) if self.reads_plain() else self.shape_queryset(by_id)
        return paginator.order(shaped, position)

    def fill_plain(self, rows: list[dict]) -> None:
        """Fill `plain_computed` in these rows, as the answer shows them (a query for all of them, never one per
        row)."""

    def audited_ids(self, rows) -> list:
        return [row["id"] if isinstance(row, dict) else row.pk for row in rows]

    def represent(self, rows, serializer_class=None) -> list:
        """A page's rows as the answer shows them. A hot read may build them from plain rows (`.values()`) instead,
        held to its serializer's output by a test."""
        if serializer_class is None and self.reads_plain():
            self.fill_plain(rows)
            shape = self.plain_shape()
            return shape.many(rows)
        serializer_class = serializer_class or self.get_serializer_class()
        context = {**self.get_serializer_context(), **self.serializer_context_for(rows)}
        return serializer_class(rows, many=True, context=context).data

    def page(self, rows, *, resource: str | None = None, serializer_class=None):
        """A list answer: the filtered rows, one page of them, audited, serialized."""
        if hasattr(rows, "model"):  # a queryset: the caller's filters apply
            rows = self.filter_queryset(rows)
        rows = self.paginate_queryset(rows)
        data = self.represent(rows, serializer_class)
        # Audited once the answer is built, every read path alike: the append takes the trail's lock until the
        # request commits, so the rows built under it made each concurrent audited request wait for the other's.
        if self.audited:
            audit_read(self.request, resource or self.resource, self.audited_ids(rows))
        return self.get_paginated_response(data)

    def page_by_ids(self, build):
        """`page(build())` of the rows `page_ids` finds for the caller, where the view names it and the request
        gives only the cursor and the page size; None otherwise (or where it finds none faster)."""
        if self.page_ids is None or self.action not in self.page_actions:
            return None
        if type(self.paginator) is not CreatedCursorPagination or self.request.query_params.keys() - PAGING:
            return None
        model = self.get_serializer_class().Meta.model
        size, position = self.paginator.position(self.request, self, model)
        ids = self.page_ids(user=self.request.user, position=position, size=size + 1)
        if ids is None:
            return None
        self.walk_first_roles = ()  # the page is the rows with these ids: nothing left to walk
        # the queryset built only once the ids are found: a caller `page_ids` leaves to the walk pays nothing more
        return self.page(build().filter(pk__in=ids))

    def page_compiled(self, build):
        """`page(build())` by a statement compiled once per shape of the request (`CompiledList`), where the list
        is plain rows paged by the keyset cursor, filtered by plain comparisons, and the request's filters are valid
        (the filterset answers anything else). None where it does not apply: the caller then takes `page`."""
        paginator = self.paginator
        if type(paginator) is not CreatedCursorPagination or self.action not in self.page_actions:
            return None
        backends = self.filter_backends
        if any(backend not in (StrictFilterBackend, UpdatedSinceFilter) for backend in backends):
            return None
        params = self.request.query_params
        if UpdatedSinceFilter in backends and UpdatedSinceFilter.param in params:
            return None
        filterset_class = getattr(self, "filterset_class", None) if StrictFilterBackend in backends else None
        filters = {} if filterset_class is None else _simple_filters(filterset_class, params)
        if filters is None or (filterset_class is not None and not _plain_filterset(filterset_class)):
            return None
        user = self.request.user
        for name, value in filters.items():  # in the filterset's order, as its filters would run
            f = filterset_class.base_filters[name]
            if type(f) is ScopedIdFilter and not _within_reach(f, user, value):
                raise NotFound(f"No {f.field_name} {value} within your reach.")
        model = getattr(getattr(self.get_serializer_class(), "Meta", None), "model", None)
        if model is None:
            return None
        size, position = paginator.position(self.request, self, model)
        key = (type(self), self.action, user.role, tuple(filters), position and position[0], self.walks_first())
        if key not in _lists:
            try:
                _lists[key] = CompiledList(self, build, model, filters, position)
            except (TypeError, EmptyResultSet):
                _lists[key] = None
        statement = _lists[key]
        if statement is None:
            return None
        rows = paginator.page_of(statement.rows(user, filters, position, size), size, position)
        data = self.represent(rows)
        if self.audited:  # once the answer is built, as `page`
            audit_read(self.request, self.resource, self.audited_ids(rows))
        return self.get_paginated_response(data)

    def respond(self, obj, status_code=status.HTTP_200_OK, *, fetched=False, serializer_class=None):
        """A single-object answer, with its ETag. After a change the object is fetched again through the scoped
        queryset, unless `fetched` says it already is what the caller sees (just read through that queryset, or
        just written by the caller with everything the answer shows)."""
        if not fetched:
            obj = self.get_queryset().get(pk=obj.pk)
        serializer_class = serializer_class or self.get_serializer_class()
        context = {**self.get_serializer_context(), **self.serializer_context_for([obj])}
        response = Response(serializer_class(obj, context=context).data, status=status_code)
        if self.etag and hasattr(obj, "version"):
            with_etag(response, obj)
        return response

    def respond_plain(self, obj, status_code, computed: dict):
        """A record the caller just wrote, answered as the plain read path shapes it (`PlainShape`: the serializer's
        fields read once per process, not built per request) from the record's own column values, with
        `computed` filling `plain_computed`. For a hot create whose record holds everything the answer shows; a
        test holds the answer to the serializer's for the same record."""
        row = {field.name: getattr(obj, field.attname) for field in obj._meta.concrete_fields}
        row.update(computed)
        response = Response(self.plain_shape()(row), status=status_code)
        if self.etag:
            with_etag(response, obj)
        return response

    def present(self, data, serializer_class=None, *, audit_as: str = "", ids=(), detail=None, reads=None):
        """An answer that is not one record — a computed summary, a report, a chart's data — audited as a read of
        `audit_as` naming `ids` (or, for an answer holding records of several kinds, of each kind in `reads`, {kind:
        ids}), serialized by `serializer_class` or handed to the renderer as it is."""
        if serializer_class is not None:
            data = serializer_class(data, context=self.get_serializer_context()).data
        self.audit_reads({**({audit_as: ids} if audit_as else {}), **(reads or {})}, detail=detail)  # as `page`
        return Response(data)

    def audit_reads(self, reads: dict, *, detail=None) -> None:
        """Record that the caller read these records, {kind: ids} (an answer the renderers do not build)."""
        if self.audited:
            for object_type, object_ids in reads.items():
                audit_read(self.request, object_type, object_ids, detail=detail)

    def act(self, service, *, status_code=status.HTTP_200_OK, serializer_class=None, fetched=False, **kwargs):
        """An action on one record: find it (scoped), call the service with the caller, the record, the validated
        body and the If-Match version where this action takes one, and answer what the service returned."""
        obj = self.get_object()
        if self.action == "partial_update" or self.action in self.if_match_actions:
            kwargs["expected_version"] = self.expected_version()  # before the body: 428 comes first
        keyword = self.object_keyword or self.resource
        result = service(actor=self.request.user, **{keyword: obj}, **self.validated(), **kwargs)
        if serializer_class is not None and not hasattr(result, "pk"):  # a summary, not a record
            return Response(serializer_class(result, context=self.get_serializer_context()).data, status=status_code)
        return self.respond(result, status_code, fetched=fetched, serializer_class=serializer_class)


class ListMixin:
    def list(self, request):
        build = self.plain_queryset if self.reads_plain() else self.get_queryset
        answer = self.page_by_ids(build)
        if answer is None:
            answer = self.page_compiled(build)
        return self.page(build()) if answer is None else answer


class RetrieveMixin:
    def retrieve(self, request, pk=None):
        if self.reads_plain():
            return self.retrieve_plain()
        obj = self.get_object()
        response = self.respond(obj, fetched=True)
        if self.audited:  # once the answer is built, as `page`
            audit_read(request, self.resource, [obj.pk])
        return response

    def retrieve_plain(self):
        """`retrieve` from a plain row: found by scope alone, as `get_object` finds it (by a statement compiled once
        per process and role, `CompiledLookup`), audited, with its ETag."""
        lookup = self.lookup_url_kwarg or self.lookup_field
        statement = compiled_lookup(self) if self.lookup_field == "pk" else None
        if statement is None:
            row = get_object_or_404(self.plain_queryset(), **{self.lookup_field: self.kwargs[lookup]})
        else:
            model = self.get_serializer_class().Meta.model
            try:
                pk = model._meta.pk.to_python(self.kwargs[lookup])
            except DjangoValidationError:
                raise Http404 from None  # a malformed id is a 404 as well
            row = statement.row(self.request.user, pk)
            if row is None:
                raise Http404
        self.check_object_permissions(self.request, row)
        response = Response(self.represent([row])[0])
        if self.audited:  # once the answer is built, as `page`
            audit_read(self.request, self.resource, [row["id"]])
        if self.etag and "version" in row:
            with_etag(response, row)
        return response


class CreateMixin:
    create_service = None
    # The service returns the new record with everything the answer shows: answer it without fetching it again.
    created_as_answered = False

    @idempotent(required="view")
    def create(self, request):
        created = self.create_service(actor=request.user, **self.validated())
        return self.answer_created(created)

    def answer_created(self, created):
        """The 201 answer (a resource may answer from plain values instead: `respond_plain`)."""
        return self.respond(created, status.HTTP_201_CREATED, fetched=self.created_as_answered)


class UpdateMixin:
    """PATCH: If-Match required (428 without, 412 when stale)."""

    update_service = None

    def partial_update(self, request, pk=None):
        return self.act(self.update_service)
