"""Couple safety (issue 17): each partner's private partner-violence screen (`safety-screens/`) and the conjoint hold a
positive one places on the case (`conjoint-holds/`). The clinician's and their supervisors' only: clients and the
admin never reach them (403 for the role, as for notes)."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import ConjointHold, HoldStatus, SafetyScreen, ScreenResult
from clinical.services import safety as services

from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CLINICIANS, CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin


class SafetyScreenSerializer(serializers.ModelSerializer):
    notes = serializers.SerializerMethodField(help_text="Private notes, encrypted at rest like note text.")

    class Meta:
        model = SafetyScreen
        fields = ["id", "case", "client", "screened_on", "result", "notes", "recorded_by", "created_at"]
        read_only_fields = fields

    def get_notes(self, screen) -> str:
        return screen.notes or ""


class SafetyScreenCreateSerializer(JSONTypes, serializers.Serializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to, help_text="The couple case.")
    client = ScopedPrimaryKeyRelatedField(selectors.clients_visible_to, help_text="The partner screened, seen alone.")
    result = serializers.ChoiceField(
        choices=ScreenResult.choices,
        help_text="`positive` places a conjoint hold on the case; `declined`: the partner chose not to answer.",
    )
    screened_on = serializers.DateField(required=False, help_text="Today if omitted.")
    notes = serializers.CharField(max_length=20_000, required=False, default="", allow_blank=True)


class SafetyScreenFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    client = ScopedIdFilter(selectors.clients_visible_to, field_name="client")

    class Meta:
        model = SafetyScreen
        fields = ["case", "client"]


@extend_schema_view(
    list=extend_schema(summary="List partner-violence screens (clinician, supervisor)", tags=["safety"]),
    retrieve=extend_schema(summary="Get a partner-violence screen", tags=["safety"]),
    create=extend_schema(summary="Record one partner's partner-violence screen", tags=["safety"]),
)
class SafetyScreenViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    """A screen is kept as recorded: a later screen is a new one. A positive screen places a conjoint hold on the
    case (`conjoint-holds/`) unless one already holds it. Nothing a client reads changes."""

    resource = "safety_screen"
    object_keyword = "screen"
    selector = selectors.safety_screens_visible_to
    serializer_class = SafetyScreenSerializer
    filterset_class = SafetyScreenFilter
    request_serializers = {"create": SafetyScreenCreateSerializer}
    create_service = services.safety_screen_record
    created_as_answered = True
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "head", "options"]
    etag = False
    problems = {"create": ["not_case_clinician", "case_closed"]}


class ConjointHoldSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConjointHold
        fields = [
            "id",
            "case",
            "screen",
            "status",
            "reason",
            "decided_at",
            "decided_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "status": {
                "help_text": "`held`: joint homework and joint sessions are refused (409 `conjoint_hold`) until a "
                "decision; `individual_work`: decided, and joint work stays refused; `continue_jointly`, `closed`: "
                "decided, the hold is over."
            },
            "screen": {"help_text": "The positive screen that placed the hold."},
        }


class HoldDecisionSerializer(JSONTypes, serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=list(services.HOLD_DECISIONS),
        help_text="`continue_jointly` with a safety plan; `individual_work`: see each partner alone; `close` the case.",
    )
    reason = serializers.CharField(max_length=2000, help_text="Why (for `close`, also the case's closing reason).")


class ConjointHoldFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    status = filters.ChoiceFilter(choices=HoldStatus.choices)

    class Meta:
        model = ConjointHold
        fields = ["case", "status"]


@extend_schema_view(
    list=extend_schema(summary="List conjoint holds (clinician, supervisor)", tags=["safety"]),
    retrieve=extend_schema(summary="Get a conjoint hold", tags=["safety"]),
    decide=extend_schema(summary="Decide what becomes of joint work on a held case", tags=["safety"]),
)
class ConjointHoldViewSet(ListMixin, RetrieveMixin, ResourceViewSet):
    resource = "conjoint_hold"
    object_keyword = "hold"
    selector = selectors.conjoint_holds_visible_to
    serializer_class = ConjointHoldSerializer
    filterset_class = ConjointHoldFilter
    request_serializers = {"decide": HoldDecisionSerializer}
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "head", "options"]
    if_match_actions = ("decide",)
    problems = {"decide": ["not_case_clinician", "hold_decided", "case_transition_not_allowed"]}

    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Record the clinician's decision on a hold, with its reason: `continue_jointly` (with a safety plan; the
        hold ends), `individual_work` (each partner alone; joint work stays refused and may be decided again later)
        or `close` (the case closes with this reason). Audited; the hold's history keeps each decision."""
        return self.act(services.conjoint_hold_decide)
