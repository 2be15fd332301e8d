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

from django.http import HttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings

from clinical.models import Role

from .audit import audit_read
from .etags import expected_version, with_etag
from .filters import reject_blank
from .idempotency import idempotent
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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
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

    def audited_ids(self, rows) -> list:
        return [row["id"] if isinstance(row, dict) else row.pk for row in rows]

    def represent(self, rows, serializer_class=None) -> list:
        """A page's rows as the answer shows them. A hot read may build them from plain rows (`.values()`) instead,
        held to its serializer's output by a test."""
        serializer_class = serializer_class or self.get_serializer_class()
        context = {**self.get_serializer_context(), **self.serializer_context_for(rows)}
        return serializer_class(rows, many=True, context=context).data

    def page(self, rows, *, resource: str | None = None, serializer_class=None):
        """A list answer: the filtered rows, one page of them, audited, serialized."""
        if hasattr(rows, "model"):  # a queryset: the caller's filters apply
            rows = self.filter_queryset(rows)
        rows = self.paginate_queryset(rows)
        if self.audited:
            audit_read(self.request, resource or self.resource, self.audited_ids(rows))
        return self.get_paginated_response(self.represent(rows, serializer_class))

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

    def present(self, data, serializer_class=None, *, audit_as: str = "", ids=(), detail=None):
        """An answer that is not one record — a computed summary, a report, a chart's data — audited as a read of
        `audit_as` naming `ids`, serialized by `serializer_class` or handed to the renderer as it is."""
        if self.audited and audit_as:
            audit_read(self.request, audit_as, ids, detail=detail)
        if serializer_class is not None:
            data = serializer_class(data, context=self.get_serializer_context()).data
        return Response(data)

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
        return self.page(self.get_queryset())


class RetrieveMixin:
    def retrieve(self, request, pk=None):
        obj = self.get_object()
        if self.audited:
            audit_read(request, self.resource, [obj.pk])
        return self.respond(obj, fetched=True)


class CreateMixin:
    create_service = None
    # The service returns the new record with everything the answer shows: answer it without fetching it again.
    created_as_answered = False

    @idempotent(required="view")
    def create(self, request):
        created = self.create_service(actor=request.user, **self.validated())
        return self.respond(created, status.HTTP_201_CREATED, fetched=self.created_as_answered)


class UpdateMixin:
    """PATCH: If-Match required (428 without, 412 when stale)."""

    update_service = None

    def partial_update(self, request, pk=None):
        return self.act(self.update_service)
