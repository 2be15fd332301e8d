"""Safety alerts: raised by measures, seen and acknowledged by the case's clinician and their supervisor."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import SafetyAlert
from clinical.services import alerts as services

from .filters import ScopedIdFilter
from .viewsets import ListMixin, ResourceViewSet, RetrieveMixin

# ---------------------------------------------------------------- alerts


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = SafetyAlert
        fields = [
            "id",
            "case",
            "client",
            "assessment",
            "session",
            "kind",
            "detail",
            "acknowledged_by",
            "acknowledged_at",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class AlertFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    acknowledged = filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = SafetyAlert
        fields = ["case", "acknowledged"]


@extend_schema_view(
    list=extend_schema(summary="List safety alerts on your cases and your supervisees'", tags=["outcomes"]),
    retrieve=extend_schema(summary="Get a safety alert", tags=["outcomes"]),
)
class AlertViewSet(ListMixin, RetrieveMixin, ResourceViewSet):
    resource = "alert"
    selector = selectors.alerts_visible_to
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    http_method_names = ["get", "post", "head", "options"]
    problems = {"acknowledge": ["not_allowed", "already_acknowledged"]}

    @extend_schema(tags=["outcomes"])
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge a safety alert (the case's clinician or their supervisor)."""
        return self.act(services.alert_acknowledge)
