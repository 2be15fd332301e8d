"""The practice admin's resources: staff accounts, who supervises whom, and moving a caseload."""

from django.contrib.auth.password_validation import validate_password
from django.db.models import Exists, OuterRef, Subquery
from django_filters import rest_framework as filters
from django_otp.plugins.otp_totp.models import TOTPDevice
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import STAFF_ROLES, Role, Supervision, User
from clinical.services import accounts
from clinical.services import cases as case_services
from clinical.services import mfa as mfa_services

from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin

# ---------------------------------------------------------------- staff


class StaffSerializer(serializers.ModelSerializer):
    supervisor = serializers.UUIDField(
        source="active_supervisor_id",
        read_only=True,
        allow_null=True,
        help_text="The clinician's current supervisor, if any.",
    )
    mfa_enabled = serializers.BooleanField(
        read_only=True,
        help_text="Signs in with a second factor (a confirmed authenticator app); `mfa-reset/` takes it away.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "display_name",
            "role",
            "is_active",
            "supervisor",
            "mfa_enabled",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class StaffCreateSerializer(JSONTypes, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    display_name = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=STAFF_ROLES, default=Role.CLINICIAN)
    password = serializers.CharField(
        write_only=True,
        required=False,
        min_length=12,
        max_length=128,
        style={"input_type": "password"},
        help_text="Optional; without one the account cannot sign in until a password is set.",
    )

    def validate_password(self, value):
        validate_password(value)
        return value


class StaffUpdateSerializer(JSONTypes, serializers.Serializer):
    email = serializers.EmailField(max_length=254, required=False)
    display_name = serializers.CharField(max_length=150, required=False)
    role = serializers.ChoiceField(choices=STAFF_ROLES, required=False)
    is_active = serializers.BooleanField(required=False)


class StaffFilter(filters.FilterSet):
    role = filters.ChoiceFilter(choices=[(r, r) for r in STAFF_ROLES])
    is_active = filters.BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]


class ReassignSerializer(JSONTypes, serializers.Serializer):
    to = ScopedPrimaryKeyRelatedField(selectors.clinicians_visible_to, help_text="The receiving clinician.")


class ReassignResultSerializer(serializers.Serializer):
    cases_moved = serializers.IntegerField()
    clients_moved = serializers.IntegerField()


def _with_supervisor_and_mfa(queryset):
    active = Supervision.objects.filter(supervisee=OuterRef("pk"), ended_on__isnull=True)
    return queryset.annotate(
        active_supervisor_id=Subquery(active.values("supervisor_id")[:1]),
        mfa_enabled=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
    )


@extend_schema_view(
    list=extend_schema(summary="List staff: clinician and supervisor accounts", tags=["practice"]),
    retrieve=extend_schema(summary="Get one staff account", tags=["practice"]),
    create=extend_schema(summary="Create a clinician or supervisor account", tags=["practice"]),
    partial_update=extend_schema(
        summary="Change a clinician's e-mail, name, role or active flag (If-Match required)",
        description="Setting `is_active` to false deactivates the account and revokes all its tokens at once.",
        tags=["practice"],
    ),
)
class StaffViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "staff"
    object_keyword = "clinician"
    audited = False  # accounts, not clinical records; every change to them is audited by its service
    selector = selectors.clinicians_visible_to
    serializer_class = StaffSerializer
    filterset_class = StaffFilter
    request_serializers = {
        "create": StaffCreateSerializer,
        "partial_update": StaffUpdateSerializer,
        "reassign_caseload": ReassignSerializer,
    }
    create_service = accounts.staff_create
    update_service = accounts.staff_update
    read_scopes = write_scopes = ["admin"]
    allowed_roles = [Role.ADMIN]
    problems = {"partial_update": ["supervisor_has_supervisees"], "reassign_caseload": ["not_allowed"]}

    def shape_queryset(self, queryset):
        return _with_supervisor_and_mfa(queryset)

    @extend_schema(responses=ReassignResultSerializer, tags=["practice"])
    @action(detail=True, methods=["post"], url_path="reassign-caseload")
    def reassign_caseload(self, request, pk=None):
        """Move a departing clinician's open and paused cases, and their clients, to another clinician.

        Answers only counts: the admin reads no clinical content. The move is audited.
        """
        return self.act(case_services.caseload_reassign, serializer_class=ReassignResultSerializer)

    @extend_schema(tags=["practice"])
    @action(detail=True, methods=["post"], url_path="mfa-reset")
    def mfa_reset(self, request, pk=None):
        """Take a staff member's second factor away (a lost phone): their authenticator app and recovery codes.

        Their next sign-in asks for no code, or, where the practice requires a second factor, takes them through
        enrolment first. Audited; without a second factor to take, nothing changes.
        """
        return self.act(mfa_services.mfa_reset)


# ---------------------------------------------------------------- supervisions


class SupervisionSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = Supervision
        fields = [
            "id",
            "supervisor",
            "supervisee",
            "started_on",
            "ended_on",
            "active",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    def get_active(self, obj) -> bool:
        return obj.ended_on is None


class SupervisionCreateSerializer(JSONTypes, serializers.Serializer):
    supervisor = ScopedPrimaryKeyRelatedField(selectors.clinicians_visible_to)
    supervisee = ScopedPrimaryKeyRelatedField(selectors.clinicians_visible_to)
    started_on = serializers.DateField(required=False)


class SupervisionEndSerializer(JSONTypes, serializers.Serializer):
    ended_on = serializers.DateField(required=False, help_text="Defaults to today.")


class SupervisionFilter(filters.FilterSet):
    supervisor = filters.UUIDFilter()
    supervisee = filters.UUIDFilter()
    active = filters.BooleanFilter(field_name="ended_on", lookup_expr="isnull", label="active")

    class Meta:
        model = Supervision
        fields = ["supervisor", "supervisee", "active"]


@extend_schema_view(
    list=extend_schema(
        summary="List supervision relations (the admin sees all; clinicians and supervisors their own)",
        tags=["practice"],
    ),
    retrieve=extend_schema(summary="Get one supervision relation", tags=["practice"]),
    create=extend_schema(
        summary="Start a supervision: a supervisor takes on a clinician (one active supervisor per clinician)",
        tags=["practice"],
    ),
    end=extend_schema(tags=["practice"], responses={200: SupervisionSerializer}),
)
class SupervisionViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    resource = "supervision"
    audited = False  # who supervises whom is practice administration; starts and ends are audited by the services
    selector = selectors.supervisions_visible_to
    serializer_class = SupervisionSerializer
    filterset_class = SupervisionFilter
    request_serializers = {"create": SupervisionCreateSerializer, "end": SupervisionEndSerializer}
    create_service = accounts.supervision_start
    read_scopes = [["admin"], ["clinical:read"]]
    write_scopes = ["admin"]
    allowed_roles = [Role.ADMIN, Role.SUPERVISOR, Role.CLINICIAN]
    action_roles = {"create": [Role.ADMIN], "end": [Role.ADMIN]}
    http_method_names = ["get", "post", "head", "options"]
    if_match_actions = ("end",)
    problems = {"create": ["already_supervised"], "end": ["supervision_ended"]}

    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End an active supervision; it stays on record."""
        return self.act(accounts.supervision_end)
