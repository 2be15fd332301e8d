"""The audit trail, for the practice admin: who read or changed which record, when, from where."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from clinical.models import AuditEvent, Role
from clinical.selectors import audit_events_visible_to

from .filters import InstantFilter
from .serializers import AuditDetailField
from .viewsets import ListMixin, ResourceViewSet, RetrieveMixin


class AuditEventSerializer(serializers.ModelSerializer):
    detail = AuditDetailField(read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "occurred_at",
            "actor",
            "actor_role",
            "action",
            "object_type",
            "object_ids",
            "request_id",
            "ip_address",
            "user_agent",
            "detail",
            "hash",
            "prev_hash",
        ]
        read_only_fields = fields


class AuditEventFilter(filters.FilterSet):
    actor = filters.UUIDFilter()
    action = filters.CharFilter()
    object_type = filters.CharFilter()
    object = filters.UUIDFilter(
        field_name="object_ids",
        lookup_expr="contains",
        method="filter_object",
        label="Events that name this record id",
    )
    occurred_after = InstantFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = InstantFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "object_type", "object", "occurred_after", "occurred_before"]

    def filter_object(self, queryset, name, value):
        return queryset.filter(object_ids__contains=[value])


@extend_schema_view(
    list=extend_schema(summary="List audit events (practice admin)", tags=["practice"]),
    retrieve=extend_schema(summary="Get an audit event", tags=["practice"]),
)
class AuditEventViewSet(ListMixin, RetrieveMixin, ResourceViewSet):
    resource = "audit_event"
    audited = False  # reading the trail is not a read of a clinical record
    etag = False  # events never change
    selector = audit_events_visible_to
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    read_scopes = ["admin"]
    allowed_roles = [Role.ADMIN]
    http_method_names = ["get", "head", "options"]
    cursor_ordering = ("occurred_at", "id")
    delta_sync = False
    lookup_value_regex = r"\d+"
