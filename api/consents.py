"""A client's consents, in the app (`me/consents/`). Issue 17's first piece: consent to electronic communication,
which reminders need."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from clinical import selectors
from clinical.models import Consent, ConsentKind, Role
from clinical.services import consents as services

from .json_types import JSONTypes
from .viewsets import CreateMixin, ListMixin, ResourceViewSet


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "kind", "given_at", "revoked_at"]
        read_only_fields = fields


class ConsentGiveSerializer(JSONTypes, serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ConsentKind.choices,
        help_text="`electronic_communication`: reminders and other contact through the app.",
    )


@extend_schema_view(
    list=extend_schema(summary="My consents, in force and revoked (client app)", tags=["me"]),
    create=extend_schema(summary="Consent, e.g. to electronic communication (client app)", tags=["me"]),
)
class MyConsentsViewSet(ListMixin, CreateMixin, ResourceViewSet):
    resource = "consent"
    selector = selectors.consents_visible_to
    serializer_class = ConsentSerializer
    request_serializers = {"create": ConsentGiveSerializer}
    create_service = services.consent_give
    created_as_answered = True
    read_scopes = ["homework"]
    write_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "post", "head", "options"]
    etag = False
    problems = {"create": ["not_a_client"]}
