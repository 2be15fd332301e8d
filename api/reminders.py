"""The client app's reminders: the devices that take push notifications (`me/devices/`) and when the client wants to
be reminded (`me/notification-preferences/`). Nobody but the client sees either: not staff, not the partner."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from clinical import selectors
from clinical.models import Device, DevicePlatform, NotificationPreferences, ReminderKind, Role
from clinical.services import reminders as services

from .json_types import JSONTypes
from .serializers import LocalTimeField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin


class DeviceSerializer(serializers.ModelSerializer):
    """A registered device. Its push token is never shown, not even to its owner."""

    class Meta:
        model = Device
        fields = ["id", "platform", "registered_at"]
        read_only_fields = fields


class DeviceRegisterSerializer(JSONTypes, serializers.Serializer):
    platform = serializers.ChoiceField(choices=DevicePlatform.choices)
    token = serializers.CharField(
        max_length=4096,
        help_text="The push token the platform gave the app (APNs, FCM or Web Push). The same token again answers "
        "the same device.",
    )


@extend_schema_view(
    list=extend_schema(summary="My devices that take reminders (client app)", tags=["me"]),
    create=extend_schema(summary="Register this device for reminders (client app)", tags=["me"]),
    destroy=extend_schema(summary="Revoke a device: no more reminders to it (client app)", tags=["me"]),
)
class MyDevicesViewSet(ListMixin, CreateMixin, ResourceViewSet):
    resource = "device"
    selector = selectors.devices_visible_to
    serializer_class = DeviceSerializer
    request_serializers = {"create": DeviceRegisterSerializer}
    create_service = services.device_register
    created_as_answered = True
    read_scopes = ["homework"]
    write_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "post", "delete", "head", "options"]
    audited = False  # no clinical content: which phones a client uses
    etag = False

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.device_revoke(actor=request.user, device=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationPreferencesSerializer(serializers.ModelSerializer):
    quiet_hours_start = LocalTimeField(read_only=True, allow_null=True)
    quiet_hours_end = LocalTimeField(read_only=True, allow_null=True)
    opted_out = serializers.ListField(
        child=serializers.ChoiceField(choices=ReminderKind.choices),
        read_only=True,
        help_text="Kinds of reminder not wanted: `homework`, `measures`.",
    )

    class Meta:
        model = NotificationPreferences
        fields = ["time_zone", "quiet_hours_start", "quiet_hours_end", "opted_out", "updated_at", "version"]
        read_only_fields = fields
        extra_kwargs = {
            "time_zone": {"help_text": "IANA time zone; blank: the practice's."},
        }


class NotificationPreferencesUpdateSerializer(JSONTypes, serializers.Serializer):
    time_zone = serializers.CharField(
        max_length=64, allow_blank=True, help_text="An IANA time zone, e.g. Europe/Berlin; blank: the practice's."
    )
    quiet_hours_start = LocalTimeField(
        allow_null=True, help_text="Local time quiet hours begin (with `quiet_hours_end`; may wrap midnight)."
    )
    quiet_hours_end = LocalTimeField(
        allow_null=True, help_text="Local time they end; a reminder due in them waits until then, the same day."
    )
    opted_out = serializers.ListField(child=serializers.ChoiceField(choices=ReminderKind.choices), max_length=2)


@extend_schema_view(
    retrieve=extend_schema(summary="When I want to be reminded (client app)", tags=["me"]),
    partial_update=extend_schema(summary="Change my time zone, quiet hours or opt-outs (client app)", tags=["me"]),
)
class MyNotificationPreferencesViewSet(RetrieveMixin, UpdateMixin, ResourceViewSet):
    """One per client, with the defaults (the practice's time zone, no quiet hours, every kind) until changed."""

    resource = "notification_preferences"
    object_keyword = "preferences"
    selector = selectors.notification_preferences_visible_to
    serializer_class = NotificationPreferencesSerializer
    request_serializers = {"partial_update": NotificationPreferencesUpdateSerializer}
    update_service = services.preferences_update
    read_scopes = ["homework"]
    write_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "patch", "head", "options"]
    audited = False

    def get_object(self):
        services.preferences_of(user=self.request.user)  # made with the defaults on first use
        obj = get_object_or_404(self.get_queryset())
        self.check_object_permissions(self.request, obj)
        return obj
