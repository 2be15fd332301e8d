"""Clients and couples."""

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import CLIENT_DETAILS, Client, ClientStatus, Couple, CoupleMember, CoupleStatus, RelationshipType
from clinical.services import clients as services
from clinical.services import invitations as invitation_services

from .filters import NameSearchFilter
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin

# ---------------------------------------------------------------- clients


class ClientSerializer(serializers.ModelSerializer):
    # Declared so the schema says what the answer holds: an address, or "" when none was given.
    email = serializers.EmailField(read_only=True, allow_blank=True)

    class Meta:
        model = Client
        fields = ["id", *CLIENT_DETAILS, "primary_clinician", "user", "created_at", "updated_at", "version"]
        read_only_fields = fields


class ClientWriteSerializer(JSONTypes, serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = CLIENT_DETAILS


class ClientFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ClientStatus.choices)
    search = NameSearchFilter(
        fields=["given_name", "family_name", "preferred_name"],
        label="Name contains (any of given, family, preferred)",
    )

    class Meta:
        model = Client
        fields = ["status", "search"]


class InvitationSerializer(serializers.Serializer):
    client = serializers.UUIDField(source="invitation.client_id")
    token = serializers.CharField(help_text="Give this to the client; it is not stored and not shown again.")
    expires_at = serializers.DateTimeField(source="invitation.expires_at")


@extend_schema_view(
    list=extend_schema(summary="List the clients on your caseload", tags=["clients"]),
    retrieve=extend_schema(summary="Get a client", tags=["clients"]),
    create=extend_schema(summary="Add a client to your caseload", tags=["clients"]),
    partial_update=extend_schema(summary="Change a client's details", tags=["clients"]),
)
class ClientViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "client"
    selector = selectors.clients_visible_to
    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    request_serializers = {"create": ClientWriteSerializer, "partial_update": ClientWriteSerializer}
    create_service = services.client_create
    update_service = services.client_update
    problems = {
        "create": ["not_a_clinician"],
        "partial_update": ["not_allowed"],
        "invite": ["not_allowed", "client_has_login"],
    }

    @extend_schema(tags=["clients"], responses={201: InvitationSerializer})
    @action(detail=True, methods=["post"])
    def invite(self, request, pk=None):
        """Invite the client to the app: a single-use token, valid 72 hours, shown only in this answer.

        Hand it to the client (the frontend's job). Inviting again replaces the previous invitation.
        """
        return self.act(
            invitation_services.invitation_create,
            status_code=status.HTTP_201_CREATED,
            serializer_class=InvitationSerializer,
        )


# ---------------------------------------------------------------- couples


class CoupleSerializer(serializers.ModelSerializer):
    partners = serializers.SerializerMethodField()

    class Meta:
        model = Couple
        fields = [
            "id",
            "partners",
            "relationship_type",
            "together_since",
            "status",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    def get_partners(self, couple) -> list[str]:
        return [str(member.client_id) for member in couple.members.all()]


class CoupleCreateSerializer(JSONTypes, serializers.Serializer):
    partners = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.clients_writable_by),
        min_length=2,
        max_length=2,
        help_text="The two clients, both on your caseload.",
    )
    relationship_type = serializers.ChoiceField(choices=RelationshipType.choices)
    together_since = serializers.DateField(required=False, allow_null=True)


class CoupleUpdateSerializer(JSONTypes, serializers.Serializer):
    relationship_type = serializers.ChoiceField(choices=RelationshipType.choices, required=False)
    together_since = serializers.DateField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=CoupleStatus.choices, required=False)


class CoupleFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CoupleStatus.choices)

    class Meta:
        model = Couple
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(summary="List the couples on your caseload", tags=["couples"]),
    retrieve=extend_schema(summary="Get a couple", tags=["couples"]),
    create=extend_schema(summary="Pair two of your clients as a couple", tags=["couples"]),
    partial_update=extend_schema(summary="Change a couple's details or end it", tags=["couples"]),
)
class CoupleViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "couple"
    selector = selectors.couples_visible_to
    serializer_class = CoupleSerializer
    filterset_class = CoupleFilter
    request_serializers = {"create": CoupleCreateSerializer, "partial_update": CoupleUpdateSerializer}
    create_service = services.couple_create
    update_service = services.couple_update
    problems = {
        "create": ["not_a_clinician", "client_in_active_couple"],
        "partial_update": ["not_allowed", "client_in_active_couple"],
    }

    def shape_queryset(self, queryset):
        return queryset.prefetch_related(Prefetch("members", queryset=CoupleMember.objects.order_by("position")))
