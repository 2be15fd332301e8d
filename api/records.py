"""The base of every clinical viewset: scoped, paginated, audited reads; validated writes through one
service each; ETagged single-object answers.

A resource declares what differs and inherits the handlers:

    class ClientViewSet(ReadMixin, CreateMixin, UpdateMixin, ClinicalViewSet):
        record_name = "client"                       # audit object type, and the service's keyword
        selector = selectors.clients_visible_to      # what the caller may reach
        serializer_class = ClientSerializer          # what every answer shows
        request_serializers = {"create": ClientWriteSerializer, "partial_update": ClientWriteSerializer}
        create_service = services.client_create      # (actor=, **validated) → record
        update_service = services.client_update      # (actor=, client=, expected_version=, **validated) → record

`request_serializers` also tells the OpenAPI schema each operation's request body.
"""

from rest_framework import status
from rest_framework.response import Response

from clinical.models import Role

from .audit import audit_read
from .etags import expected_version, with_etag
from .idempotency import idempotent
from .scoping import ScopedViewSet

CLINICIANS = [Role.CLINICIAN, Role.SUPERVISOR]


class ClinicalViewSet(ScopedViewSet):
    """Clinicians and supervisors only; the admin sees no clinical content and clients use me/.

    Every list and retrieve writes an audit event in the request's transaction (ATOMIC_REQUESTS).
    """

    record_name: str = ""
    request_serializers: dict = {}
    read_scopes = ["clinical:read"]
    write_scopes = ["clinical:write"]
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "patch", "head", "options"]
    etag = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("create_service", "update_service"):
            if callable(cls.__dict__.get(name)):
                setattr(cls, name, staticmethod(cls.__dict__[name]))

    def validated(self, **kwargs) -> dict:
        """The request body, validated by this action's request serializer."""
        serializer = self.request_serializers[self.action](
            data=self.request.data, context=self.get_serializer_context(), **kwargs
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def list_response(self, queryset):
        rows = self.paginate_queryset(self.filter_queryset(queryset))
        audit_read(self.request, self.record_name, rows)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def respond(self, obj, status_code=status.HTTP_200_OK, *, fetched=False):
        """The object as the caller now sees it: after a change, fetched again through the scoped queryset,
        unless `fetched` says it already is what the caller sees (just read through that queryset, or just
        written by the caller with everything the answer shows)."""
        if not fetched:
            obj = self.get_queryset().get(pk=obj.pk)
        return with_etag(Response(self.get_serializer(obj).data, status=status_code), obj)


class ReadMixin:
    def list(self, request):
        return self.list_response(self.get_queryset())

    def retrieve(self, request, pk=None):
        obj = self.get_object()
        audit_read(request, self.record_name, [obj])
        return self.respond(obj, fetched=True)


class CreateMixin:
    create_service = None

    @idempotent
    def create(self, request):
        record = self.create_service(actor=request.user, **self.validated())
        return self.respond(record, status.HTTP_201_CREATED)


class UpdateMixin:
    """PATCH: If-Match required (428 without, 412 when stale)."""

    update_service = None

    def partial_update(self, request, pk=None):
        obj = self.get_object()
        version = expected_version(request)
        changes = self.validated(partial=True)
        return self.respond(
            self.update_service(actor=request.user, expected_version=version, **{self.record_name: obj}, **changes)
        )
