"""A client's consents, in the app (`me/consents/`). Issue 17's first piece: consent to electronic communication,
which reminders need."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

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
    revoke=extend_schema(
        summary="Revoke a consent (client app)", tags=["me"], request=None, responses={200: ConsentSerializer}
    ),
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

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke one of my consents: it ends now and is kept, with when (revoking it again changes nothing). Without
        a consent to electronic communication in force, no reminder is sent to any of my devices."""
        return self.act(services.consent_revoke, fetched=True)
