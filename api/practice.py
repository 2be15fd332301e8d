"""The practice admin's resources: staff accounts, who supervises whom, and moving a caseload."""

from django.contrib.auth.password_validation import validate_password
from django.db.models import OuterRef, Subquery
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinical import selectors
from clinical.models import STAFF_ROLES, Role, Supervision, User
from clinical.services import accounts
from clinical.services import cases as case_services

from .etags import expected_version, with_etag
from .idempotency import idempotent
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField, ScopedViewSet

# ---------------------------------------------------------------- staff


class StaffSerializer(serializers.ModelSerializer):
    supervisor = serializers.UUIDField(
        source="active_supervisor_id",
        read_only=True,
        allow_null=True,
        help_text="The clinician's current supervisor, if any.",
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


def _with_supervisor(queryset):
    active = Supervision.objects.filter(supervisee=OuterRef("pk"), ended_on__isnull=True)
    return queryset.annotate(active_supervisor_id=Subquery(active.values("supervisor_id")[:1]))


@extend_schema_view(
    list=extend_schema(tags=["practice"]),
    retrieve=extend_schema(tags=["practice"]),
    create=extend_schema(tags=["practice"], request=StaffCreateSerializer, responses={201: StaffSerializer}),
    partial_update=extend_schema(tags=["practice"], request=StaffUpdateSerializer, responses={200: StaffSerializer}),
)
class StaffViewSet(ScopedViewSet):
    selector = selectors.clinicians_visible_to
    serializer_class = StaffSerializer
    filterset_class = StaffFilter
    read_scopes = write_scopes = ["admin"]
    allowed_roles = [Role.ADMIN]
    http_method_names = ["get", "post", "patch", "head", "options"]
    etag = True

    def shape_queryset(self, queryset):
        return _with_supervisor(queryset)

    def _fresh(self, user):
        return self.get_queryset().get(pk=user.pk)

    def list(self, request):
        """List staff: clinician and supervisor accounts."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        """Get one staff account."""
        clinician = self.get_object()
        return with_etag(Response(self.get_serializer(clinician).data), clinician)

    @idempotent
    def create(self, request):
        """Create a clinician or supervisor account."""
        data = StaffCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clinician = self._fresh(accounts.staff_create(**data.validated_data))
        return with_etag(Response(self.get_serializer(clinician).data, status=status.HTTP_201_CREATED), clinician)

    def partial_update(self, request, pk=None):
        """Change a clinician's e-mail, name, role or active flag (If-Match required).

        Setting `is_active` to false deactivates the account and revokes all its tokens at once.
        """
        clinician = self.get_object()
        version = expected_version(request)
        data = StaffUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clinician = accounts.staff_update(clinician=clinician, expected_version=version, **data.validated_data)
        clinician = self._fresh(clinician)
        return with_etag(Response(self.get_serializer(clinician).data), clinician)

    @extend_schema(request=ReassignSerializer, responses=ReassignResultSerializer, tags=["practice"])
    @action(detail=True, methods=["post"], url_path="reassign-caseload")
    def reassign_caseload(self, request, pk=None):
        """Move a departing clinician's open and paused cases, and their clients, to another clinician.

        Answers only counts: the admin reads no clinical content. The move is audited.
        """
        departing = self.get_object()
        data = ReassignSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        moved = case_services.caseload_reassign(actor=request.user, departing=departing, **data.validated_data)
        return Response(ReassignResultSerializer(moved).data)

    extra_problems = {"partial_update": [409]}


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
    list=extend_schema(tags=["practice"]),
    retrieve=extend_schema(tags=["practice"]),
    create=extend_schema(
        tags=["practice"], request=SupervisionCreateSerializer, responses={201: SupervisionSerializer}
    ),
    end=extend_schema(tags=["practice"], request=SupervisionEndSerializer, responses={200: SupervisionSerializer}),
)
class SupervisionViewSet(ScopedViewSet):
    selector = selectors.supervisions_visible_to
    serializer_class = SupervisionSerializer
    filterset_class = SupervisionFilter
    read_scopes = [["admin"], ["clinical:read"]]
    write_scopes = ["admin"]
    allowed_roles = [Role.ADMIN, Role.SUPERVISOR, Role.CLINICIAN]
    action_roles = {"create": [Role.ADMIN], "end": [Role.ADMIN]}
    http_method_names = ["get", "post", "head", "options"]
    extra_problems = {"create": [409], "end": [409]}
    etag = True

    def list(self, request):
        """List supervision relations (the admin sees all; clinicians and supervisors their own)."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        """Get one supervision relation."""
        supervision = self.get_object()
        return with_etag(Response(self.get_serializer(supervision).data), supervision)

    @idempotent
    def create(self, request):
        """Start a supervision: a supervisor takes on a clinician (one active supervisor per clinician)."""
        data = SupervisionCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        supervision = accounts.supervision_start(**data.validated_data)
        return with_etag(Response(self.get_serializer(supervision).data, status=status.HTTP_201_CREATED), supervision)

    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        """End an active supervision; it stays on record."""
        supervision = self.get_object()
        data = SupervisionEndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        supervision = accounts.supervision_end(supervision=supervision, **data.validated_data)
        return with_etag(Response(self.get_serializer(supervision).data), supervision)
