"""Webhook subscriptions, for integrators: signed deliveries (Standard Webhooks) of the events the owner may see."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action

from clinical.models import Role
from events import webhooks as services
from events.catalog import EVENT_TYPES
from events.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from events.selectors import deliveries_visible_to, webhooks_visible_to

from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CLINICIANS, CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin

EVENT_TYPE_CHOICES = sorted(EVENT_TYPES)


class WebhookSerializer(serializers.ModelSerializer):
    disabled = serializers.SerializerMethodField(help_text="Disabled by the API after failing for over a day.")

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "owner",
            "url",
            "description",
            "event_types",
            "active",
            "disabled",
            "disabled_at",
            "disabled_reason",
            "failing_since",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    def get_disabled(self, webhook) -> bool:
        return webhook.disabled_at is not None


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_…`): shown only in this answer, when made or rotated. Verify every "
        "delivery's `webhook-signature` with it (any Standard Webhooks library)."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def to_representation(self, issued):
        return {**WebhookSerializer(issued.webhook, context=self.context).data, "secret": issued.secret}


class WebhookCreateSerializer(JSONTypes, serializers.Serializer):
    url = serializers.URLField(
        max_length=2000, help_text="https, on a public address (checked again at every delivery)."
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES), min_length=1, max_length=len(EVENT_TYPE_CHOICES)
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class WebhookUpdateSerializer(WebhookCreateSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
        min_length=1,
        max_length=len(EVENT_TYPE_CHOICES),
        required=False,
    )
    active = serializers.BooleanField(required=False, help_text="Switch deliveries off and on.")


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.UUIDField(source="id", help_text="The `webhook-id` header of every try.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook_id",
            "type",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RedeliverSerializer(JSONTypes, serializers.Serializer):
    delivery = ScopedPrimaryKeyRelatedField(deliveries_visible_to, help_text="One of this subscription's deliveries.")


class DeliveryFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=DeliveryStatus.choices)

    class Meta:
        model = WebhookDelivery
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(summary="List your webhook subscriptions (the admin: all)", tags=["webhooks"]),
    retrieve=extend_schema(summary="Get a webhook subscription", tags=["webhooks"]),
    create=extend_schema(
        summary="Subscribe a URL to events you may see",
        description="Deliveries are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, "
        "`webhook-signature`) with the secret in this answer, which is not shown again. A clinician receives "
        "events about their own caseload, a supervisor also their supervisees', the admin the whole practice's — "
        "decided at each delivery.",
        tags=["webhooks"],
        responses={201: WebhookWithSecretSerializer},
    ),
    partial_update=extend_schema(summary="Change the URL or event types, or switch it off and on", tags=["webhooks"]),
)
class WebhookViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "webhook"
    audited = False  # no clinical content; every change is audited by its service
    selector = webhooks_visible_to
    serializer_class = WebhookSerializer
    request_serializers = {
        "create": WebhookCreateSerializer,
        "partial_update": WebhookUpdateSerializer,
        "redeliver": RedeliverSerializer,
    }
    create_service = services.webhook_create
    update_service = services.webhook_update
    read_scopes = [["clinical:read"], ["admin"]]
    write_scopes = [["clinical:write"], ["admin"]]
    allowed_roles = [*CLINICIANS, Role.ADMIN]
    if_match_actions = ("rotate_secret",)
    page_actions = ("list", "deliveries")
    problems = {
        "create": ["not_staff", "webhook_target_refused"],
        "partial_update": ["not_allowed", "webhook_target_refused"],
        "rotate_secret": ["not_allowed"],
        "ping": ["not_allowed"],
        "redeliver": ["not_allowed", "delivery_pending"],
    }

    def respond(self, obj, status_code=status.HTTP_200_OK, *, fetched=False, serializer_class=None):
        if isinstance(obj, services.WithSecret):  # made or rotated: the secret, once
            return super().respond(obj, status_code, fetched=True, serializer_class=WebhookWithSecretSerializer)
        return super().respond(obj, status_code, fetched=fetched, serializer_class=serializer_class)

    @extend_schema(tags=["webhooks"], responses={200: WebhookWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Rotate the signing secret: the new one is in this answer; the old one keeps signing for 24 hours."""
        return self.act(services.webhook_rotate_secret)

    @extend_schema(tags=["webhooks"], responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        """Send a `webhook.ping` delivery, to try the receiver"""
        return self.act(
            services.webhook_ping,
            status_code=status.HTTP_202_ACCEPTED,
            serializer_class=DeliverySerializer,
            fetched=True,
        )

    @extend_schema(tags=["webhooks"], responses=DeliverySerializer(many=True))
    @action(
        detail=True,
        methods=["get"],
        serializer_class=DeliverySerializer,
        filterset_class=DeliveryFilter,
    )
    def deliveries(self, request, pk=None):
        """List a subscription's deliveries: attempts, status, the receiver's answer and latency"""
        return self.page(self.get_object().deliveries.all(), resource="webhook_delivery")

    @extend_schema(tags=["webhooks"], responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send one of its deliveries again, under the same `webhook-id`"""
        return self.act(
            services.webhook_redeliver,
            status_code=status.HTTP_202_ACCEPTED,
            serializer_class=DeliverySerializer,
            fetched=True,
        )
