"""Cases and their treatment goals (with Goal Attainment Scaling)."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinical import selectors
from clinical.models import (
    GAS_SCORES,
    Case,
    CaseStatus,
    GoalAchievement,
    GoalAttainmentRating,
    GoalDomain,
    GoalLifecycle,
    GoalPriority,
    PresentingConcern,
    SubjectType,
    TreatmentGoal,
)
from clinical.services import cases as case_services
from clinical.services import goals as goal_services

from .audit import audit_read
from .etags import expected_version
from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .outcomes import CaseOutcomesMixin
from .records import ClinicalViewSet, CreateMixin, ReadMixin, UpdateMixin
from .scoping import ScopedPrimaryKeyRelatedField

# ---------------------------------------------------------------- cases


class CaseSerializer(serializers.ModelSerializer):
    presenting_concerns = serializers.ListField(child=serializers.ChoiceField(choices=PresentingConcern.choices))

    class Meta:
        model = Case
        fields = [
            "id",
            "subject_type",
            "client",
            "couple",
            "clinician",
            "status",
            "opened_on",
            "closed_on",
            "closing_reason",
            "presenting_concerns",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class CaseCreateSerializer(JSONTypes, serializers.Serializer):
    subject_type = serializers.ChoiceField(choices=SubjectType.choices)
    client = ScopedPrimaryKeyRelatedField(
        selectors.clients_visible_to,
        required=False,
        allow_null=True,
        help_text="For an individual case: the client.",
    )
    couple = ScopedPrimaryKeyRelatedField(
        selectors.couples_visible_to,
        required=False,
        allow_null=True,
        help_text="For a couple case: the couple.",
    )
    presenting_concerns = serializers.ListField(
        child=serializers.ChoiceField(choices=PresentingConcern.choices), required=False, max_length=8
    )
    opened_on = serializers.DateField(required=False)


class CaseUpdateSerializer(JSONTypes, serializers.Serializer):
    presenting_concerns = serializers.ListField(
        child=serializers.ChoiceField(choices=PresentingConcern.choices), max_length=8
    )


class CaseCloseSerializer(JSONTypes, serializers.Serializer):
    closing_reason = serializers.CharField(max_length=500, help_text="Why the case closes (required).")


class CaseFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CaseStatus.choices)
    subject_type = filters.ChoiceFilter(choices=SubjectType.choices)
    client = ScopedIdFilter(selectors.clients_visible_to, field_name="client")
    couple = ScopedIdFilter(selectors.couples_visible_to, field_name="couple")

    class Meta:
        model = Case
        fields = ["status", "subject_type", "client", "couple"]


@extend_schema_view(
    list=extend_schema(summary="List the cases you hold or supervise", tags=["cases"]),
    retrieve=extend_schema(summary="Get a case", tags=["cases"]),
    create=extend_schema(summary="Open a case for a client or a couple", tags=["cases"]),
    partial_update=extend_schema(summary="Change a case's presenting concerns", tags=["cases"]),
)
class CaseViewSet(CaseOutcomesMixin, ReadMixin, CreateMixin, UpdateMixin, ClinicalViewSet):
    record_name = "case"
    selector = selectors.cases_visible_to
    serializer_class = CaseSerializer
    filterset_class = CaseFilter
    request_serializers = {
        "create": CaseCreateSerializer,
        "partial_update": CaseUpdateSerializer,
        "close": CaseCloseSerializer,
    }
    create_service = case_services.case_open
    update_service = case_services.case_update
    extra_problems = {"create": [409], "partial_update": [409], "pause": [409], "resume": [409], "close": [409]}
    if_match_actions = ("pause", "resume", "close")

    def _transition(self, request, name, **kwargs):
        case = self.get_object()
        version = expected_version(request, required=False)
        return self.respond(
            case_services.case_transition(
                actor=request.user, case=case, action=name, expected_version=version, **kwargs
            )
        )

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause an open case."""
        return self._transition(request, "pause")

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused case."""
        return self._transition(request, "resume")

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close a case, with a reason; a closed case is frozen."""
        return self._transition(request, "close", **self.validated())


# ---------------------------------------------------------------- goals

GASLevelsSerializer = type(
    "GASLevelsSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Goal Attainment Scale: what each level looks like, -2 (much less than expected) to 2.",
        **{str(score): serializers.CharField(max_length=500) for score in GAS_SCORES},
    },
)


class GoalSerializer(serializers.ModelSerializer):
    gas_levels = GASLevelsSerializer(allow_null=True)

    class Meta:
        model = TreatmentGoal
        fields = [
            "id",
            "case",
            "domain",
            "title",
            "description",
            "priority",
            "start_date",
            "target_date",
            "lifecycle_status",
            "achievement_status",
            "gas_levels",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class GoalCreateSerializer(JSONTypes, serializers.Serializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to)
    domain = serializers.ChoiceField(choices=GoalDomain.choices)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    priority = serializers.ChoiceField(choices=GoalPriority.choices, required=False)
    start_date = serializers.DateField(required=False)
    target_date = serializers.DateField(required=False, allow_null=True)
    achievement_status = serializers.ChoiceField(choices=GoalAchievement.choices, required=False)
    gas_levels = GASLevelsSerializer(required=False, allow_null=True)


class GoalUpdateSerializer(GoalCreateSerializer):
    case = None


class GoalTransitionSerializer(JSONTypes, serializers.Serializer):
    to = serializers.ChoiceField(choices=GoalLifecycle.choices)


class GASRatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = GoalAttainmentRating
        fields = ["id", "goal", "rated_on", "score", "rated_by", "created_at"]
        read_only_fields = fields


class GASRatingCreateSerializer(JSONTypes, serializers.Serializer):
    score = serializers.IntegerField(min_value=-2, max_value=2)
    rated_on = serializers.DateField(required=False, help_text="Defaults to today.")


class GoalFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    domain = filters.ChoiceFilter(choices=GoalDomain.choices)
    lifecycle_status = filters.ChoiceFilter(choices=GoalLifecycle.choices)

    class Meta:
        model = TreatmentGoal
        fields = ["case", "domain", "lifecycle_status"]


@extend_schema_view(
    list=extend_schema(summary="List treatment goals", tags=["goals"]),
    retrieve=extend_schema(summary="Get a treatment goal", tags=["goals"]),
    create=extend_schema(summary="Set a treatment goal on a case", tags=["goals"]),
    partial_update=extend_schema(
        summary="Change a goal's text, dates, priority, achievement or GAS levels", tags=["goals"]
    ),
)
class GoalViewSet(ReadMixin, CreateMixin, UpdateMixin, ClinicalViewSet):
    record_name = "goal"
    selector = selectors.goals_visible_to
    serializer_class = GoalSerializer
    filterset_class = GoalFilter
    request_serializers = {
        "create": GoalCreateSerializer,
        "partial_update": GoalUpdateSerializer,
        "transition": GoalTransitionSerializer,
        "gas_ratings": GASRatingCreateSerializer,
    }
    create_service = goal_services.goal_create
    update_service = goal_services.goal_update
    extra_problems = {"create": [409], "partial_update": [409], "transition": [409], "gas_ratings": [409]}
    if_match_actions = ("transition",)

    @extend_schema(
        tags=["goals"],
        description=(
            "Allowed: proposed → active | cancelled; active → on_hold | completed | cancelled; "
            "on_hold → active | cancelled; completed → active; any → entered_in_error. "
            "Anything else is 409 with `allowed`; a closed case's goals do not move."
        ),
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move a goal through its lifecycle."""
        goal = self.get_object()
        version = expected_version(request, required=False)
        return self.respond(
            goal_services.goal_transition(actor=request.user, goal=goal, expected_version=version, **self.validated())
        )

    @extend_schema(
        methods=["GET"], summary="List a goal's GAS ratings", tags=["goals"], responses=GASRatingSerializer(many=True)
    )
    @extend_schema(
        methods=["POST"],
        summary="Rate a goal on its Goal Attainment Scale",
        tags=["goals"],
        responses={201: GASRatingSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="gas-ratings",
        serializer_class=GASRatingSerializer,
        filterset_class=None,
    )
    def gas_ratings(self, request, pk=None):
        goal = self.get_object()
        if request.method == "POST":
            rating = goal_services.gas_rating_record(actor=request.user, goal=goal, **self.validated())
            return Response(GASRatingSerializer(rating).data, status=status.HTTP_201_CREATED)
        ratings = self.paginate_queryset(goal.gas_ratings.all())
        audit_read(request, "gas_rating", ratings)
        return self.get_paginated_response(GASRatingSerializer(ratings, many=True).data)
