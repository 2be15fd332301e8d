"""Cases, their treatment goals (with Goal Attainment Scaling), and a case's outcomes (JSON and a PNG chart)."""

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action

from clinical import selectors
from clinical.case_outcomes import case_outcomes
from clinical.instruments import INSTRUMENTS
from clinical.models import (
    Case,
    CaseStatus,
    ConfidentialityPolicy,
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
from clinical.services.alliance import alliance

from .charts import ChartDownloadRenderer, ChartRenderer
from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .replica import SERVED_BY_PARAMETER, routed_read, with_served_by
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin

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
            "confidentiality_policy",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "confidentiality_policy": {
                "help_text": "A couple case's: `no_secrets`, `limited_secrets` or `separate_records` "
                "(docs/security.md); empty for an individual case."
            }
        }


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
    confidentiality_policy = serializers.ChoiceField(
        choices=ConfidentialityPolicy.choices,
        required=False,
        help_text="For a couple case: what the couple agreed at intake; `limited_secrets` if omitted.",
    )


class CaseConfidentialitySerializer(JSONTypes, serializers.Serializer):
    policy = serializers.ChoiceField(choices=ConfidentialityPolicy.choices)
    reason = serializers.CharField(max_length=2000, help_text="Why it changes (audited with the change).")


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


class PointSerializer(serializers.Serializer):
    assessment = serializers.UUIDField()
    administered_at = serializers.DateTimeField()
    total = serializers.IntegerField()
    band = serializers.CharField()
    change = serializers.IntegerField(allow_null=True)
    reliable_change = serializers.CharField(allow_null=True, help_text="Null for the baseline, or when not available.")


class ClientSeriesSerializer(serializers.Serializer):
    client = serializers.UUIDField()
    phq9 = PointSerializer(many=True)
    gad7 = PointSerializer(many=True)
    csi4 = PointSerializer(many=True)
    measures = serializers.DictField(
        child=PointSerializer(many=True),
        help_text=(
            "The client's series of every measure they have assessments of on this case, by the measure's code "
            "(`GET /instruments/`): the built-in ones (the same points as `phq9`, `gad7`, `csi4`) and the "
            "practice's own, built-in first, then by code; each series oldest first. A measure without "
            "assessments of this client is absent."
        ),
    )


class DiscrepancySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    first_partner_score = serializers.IntegerField()
    second_partner_score = serializers.IntegerField()
    discrepancy = serializers.IntegerField(help_text="Absolute difference of the two partners' CSI-4 totals.")


class SessionCountsSerializer(serializers.Serializer):
    scheduled = serializers.IntegerField()
    attended = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    late_cancelled = serializers.IntegerField()
    no_show = serializers.IntegerField()


class CaseOutcomesSerializer(serializers.Serializer):
    case = serializers.UUIDField()
    clients = ClientSeriesSerializer(many=True, help_text="In partner order (first, second).")
    csi4_discrepancy = DiscrepancySerializer(many=True)
    gas_t_score = serializers.FloatField(allow_null=True, help_text="Kiresuk & Sherman, rho 0.3, equal weights.")
    gas_goals = serializers.IntegerField(help_text="Goals with GAS levels and at least one rating.")
    sessions = SessionCountsSerializer(help_text="The case's sessions by what became of them (all of them, to date).")

    def to_representation(self, outcomes):
        return super().to_representation(
            {
                "case": outcomes.case.pk,
                "clients": [
                    {
                        "client": client.pk,
                        **{code: outcomes.series[client.pk].get(code, []) for code in INSTRUMENTS},
                        "measures": outcomes.series[client.pk],
                    }
                    for client in outcomes.clients
                ],
                "csi4_discrepancy": outcomes.discrepancy,
                "gas_t_score": outcomes.gas_t,
                "gas_goals": outcomes.gas_goals,
                "sessions": outcomes.sessions,
            }
        )


class RatingItemsSerializer(serializers.Serializer):
    heard = serializers.IntegerField()
    goals = serializers.IntegerField()
    approach = serializers.IntegerField()
    overall = serializers.IntegerField()


class AlliancePointSerializer(serializers.Serializer):
    session = serializers.UUIDField()
    starts_at = serializers.DateTimeField()
    total = serializers.IntegerField(help_text="The partner's rating of the session, 0 to 40.")
    items = RatingItemsSerializer()


class AllianceSeriesSerializer(serializers.Serializer):
    client = serializers.UUIDField()
    points = AlliancePointSerializer(many=True, help_text="The attended sessions this partner rated, oldest first.")
    trend = serializers.FloatField(allow_null=True, help_text="Least-squares slope, points per session.")


class SplitSerializer(serializers.Serializer):
    session = serializers.UUIDField()
    starts_at = serializers.DateTimeField()
    split = serializers.IntegerField(help_text="|A - B|: the two partners' totals apart, 0 to 40.")


class AllianceSerializer(serializers.Serializer):
    case = serializers.UUIDField()
    series = AllianceSeriesSerializer(many=True, help_text="In partner order (first, second).")
    splits = SplitSerializer(many=True, help_text="Joint sessions both partners rated, oldest first.")
    split_trend = serializers.FloatField(allow_null=True, help_text="Least-squares slope of the split per session.")
    split_threshold = serializers.IntegerField(help_text="The practice's split alert threshold (clinical policy).")
    floor = serializers.IntegerField(help_text="The practice's low alliance floor (clinical policy).")


@extend_schema_view(
    list=extend_schema(summary="List the cases you hold or supervise", tags=["cases"]),
    retrieve=extend_schema(summary="Get a case", tags=["cases"]),
    create=extend_schema(summary="Open a case for a client or a couple", tags=["cases"]),
    partial_update=extend_schema(summary="Change a case's presenting concerns", tags=["cases"]),
)
class CaseViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "case"
    selector = selectors.cases_visible_to
    serializer_class = CaseSerializer
    filterset_class = CaseFilter
    # Hot reads (the clinician's case screen): plain rows, shaped as CaseSerializer (api/viewsets.py).
    plain_actions = ("list", "retrieve")
    request_serializers = {
        "create": CaseCreateSerializer,
        "partial_update": CaseUpdateSerializer,
        "close": CaseCloseSerializer,
        "confidentiality": CaseConfidentialitySerializer,
    }
    create_service = case_services.case_open
    update_service = case_services.case_update
    problems = {
        "create": ["not_a_clinician", "couple_ended", "consent_missing"],
        "confidentiality": ["not_case_clinician", "case_closed"],
        "partial_update": ["not_case_clinician", "case_closed"],
        **{step: ["not_case_clinician", "case_transition_not_allowed"] for step in ("pause", "resume", "close")},
    }
    if_match_actions = ("pause", "resume", "close", "confidentiality")

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause an open case."""
        return self.act(case_services.case_transition, action="pause")

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused case."""
        return self.act(case_services.case_transition, action="resume")

    @extend_schema(tags=["cases"])
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close a case, with a reason; a closed case is frozen."""
        return self.act(case_services.case_transition, action="close")

    @extend_schema(tags=["cases"], responses=CaseSerializer)
    @action(detail=True, methods=["post"])
    def confidentiality(self, request, pk=None):
        """Change a couple case's confidentiality policy, with the reason (audited; the case's history keeps it)."""
        return self.act(case_services.case_confidentiality_set)

    # A case's outcomes: the case is found (scoped) on the primary; its scores may come from the read replica
    # (api/replica.py).

    def _outcomes(self):
        case = self.get_object()
        return case, routed_read(self.request, lambda using: case_outcomes(case=case, using=using))

    @extend_schema(
        summary="Each partner's session ratings, the split and their trends",
        tags=["outcomes"],
        responses=AllianceSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def alliance(self, request, pk=None):
        """Each partner's rating of every attended session, the per-session split |A - B| of joint sessions, and
        their trends. For the clinician and supervisors: a partner never sees the other's ratings."""
        case = self.get_object()
        return self.present(alliance(case), AllianceSerializer, audit_as="case_alliance", ids=[case.pk])

    @extend_schema(tags=["outcomes"], responses=CaseOutcomesSerializer, parameters=[SERVED_BY_PARAMETER])
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def outcomes(self, request, pk=None):
        """A case's outcomes: each client's scores over time, the couple's CSI-4 discrepancy, the GAS T-score."""
        case, (outcomes, served_by) = self._outcomes()
        return with_served_by(
            self.present(outcomes, CaseOutcomesSerializer, audit_as="case_outcomes", ids=[case.pk]), served_by
        )

    @extend_schema(
        tags=["outcomes"],
        responses={
            (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The chart, a PNG image.")
            for media_type in ("image/png", "application/octet-stream")
        },
        parameters=[SERVED_BY_PARAMETER],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="outcomes/chart.png",
        filterset_class=None,
        pagination_class=None,
        renderer_classes=[ChartRenderer, ChartDownloadRenderer],
    )
    def outcomes_chart(self, request, pk=None):
        """A chart of each client's scores over time per measure, with bands and cut-offs (PNG)."""
        case, (outcomes, served_by) = self._outcomes()
        return with_served_by(self.present(outcomes, audit_as="case_outcomes", ids=[case.pk]), served_by)


# ---------------------------------------------------------------- goals


# The five levels of Goal Attainment Scaling by score, as the contract names them: a rating's `score` is one of these.
GAS_LEVEL_NAMES = {-2: "much_less", -1: "somewhat_less", 0: "expected", 1: "somewhat_more", 2: "much_more"}
GAS_LEVEL_MEANINGS = {
    -2: "Score -2: much less than expected.",
    -1: "Score -1: somewhat less than expected.",
    0: "Score 0: the expected level of attainment.",
    1: "Score +1: somewhat more than expected.",
    2: "Score +2: much more than expected.",
}


class GASLevelsSerializer(serializers.Serializer):
    """Goal Attainment Scale: what each level of attainment looks like, from much less than expected (score -2)
    to much more (+2). A GAS rating's `score` names one of them."""

    much_less = serializers.CharField(max_length=500, help_text=GAS_LEVEL_MEANINGS[-2])
    somewhat_less = serializers.CharField(max_length=500, help_text=GAS_LEVEL_MEANINGS[-1])
    expected = serializers.CharField(max_length=500, help_text=GAS_LEVEL_MEANINGS[0])
    somewhat_more = serializers.CharField(max_length=500, help_text=GAS_LEVEL_MEANINGS[1])
    much_more = serializers.CharField(max_length=500, help_text=GAS_LEVEL_MEANINGS[2])

    def to_representation(self, levels: dict):
        # The domain keeps the levels keyed by score ("-2" … "2").
        return super().to_representation({GAS_LEVEL_NAMES[int(score)]: text for score, text in levels.items()})

    def to_internal_value(self, data):
        levels = super().to_internal_value(data)
        # All five, even in a PATCH: a goal's scale is replaced whole.
        missing = {name: ["This field is required."] for name in GAS_LEVEL_NAMES.values() if name not in levels}
        if missing:
            raise serializers.ValidationError(missing)
        return {str(score): levels[name] for score, name in GAS_LEVEL_NAMES.items()}


class GoalSerializer(serializers.ModelSerializer):
    gas_levels = GASLevelsSerializer(allow_null=True, read_only=True)

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
class GoalViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "goal"
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
    problems = {
        "create": ["not_case_clinician", "case_closed"],
        "partial_update": ["not_case_clinician", "case_closed", "goal_entered_in_error", "gas_levels_in_use"],
        "transition": ["not_case_clinician", "case_closed", "transition_not_allowed"],
        "gas_ratings": [
            "not_case_clinician",
            "case_closed",
            "goal_entered_in_error",
            "gas_levels_missing",
            "gas_already_rated",
        ],
    }
    if_match_actions = ("transition",)
    page_actions = ("list", "gas_ratings")

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
        return self.act(goal_services.goal_transition)

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
        if request.method == "POST":
            return self.act(goal_services.gas_rating_record, status_code=status.HTTP_201_CREATED, fetched=True)
        return self.page(self.get_object().gas_ratings.all(), resource="gas_rating")
