"""The base of every clinical viewset: scoped, paginated, audited reads and ETagged single-object answers."""

from rest_framework import status
from rest_framework.response import Response

from clinical.models import Role

from .audit import audit_read
from .etags import with_etag
from .scoping import ScopedViewSet

CLINICIANS = [Role.CLINICIAN, Role.SUPERVISOR]


class ClinicalViewSet(ScopedViewSet):
    """Clinicians and supervisors only; the admin sees no clinical content and clients use me/.

    Every list and retrieve writes an audit event in the request's transaction (ATOMIC_REQUESTS).
    """

    audit_type: str = ""
    read_scopes = ["clinical:read"]
    write_scopes = ["clinical:write"]
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "patch", "head", "options"]
    etag = True

    def list_response(self, queryset):
        rows = self.paginate_queryset(self.filter_queryset(queryset))
        audit_read(self.request, self.audit_type, rows)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def retrieve_response(self, obj):
        audit_read(self.request, self.audit_type, [obj])
        return self.respond(obj)

    def respond(self, obj, status_code=status.HTTP_200_OK, serializer_class=None):
        """The object as the caller now sees it, fetched again through the scoped queryset."""
        obj = self.get_queryset().get(pk=obj.pk)
        serializer = (serializer_class or self.get_serializer_class())(obj, context=self.get_serializer_context())
        return with_etag(Response(serializer.data, status=status_code), obj)

    def created(self, obj):
        return self.respond(obj, status.HTTP_201_CREATED)
