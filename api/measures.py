"""Standard measures: the instruments (PHQ-9, GAD-7, CSI-4 and a practice's own), assessments (clinician-recorded
or self-reported), self-report schedules, and what a client is asked to fill in now (me/assessments-due)."""

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import instruments, selectors
from clinical.models import Assessment, AssessmentSchedule, Role, ScheduleFrequency
from clinical.services import measures as services

from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .pagination import SinglePage
from .scoping import ScopedPrimaryKeyRelatedField
from .viewsets import CLINICIANS, CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin

# ---------------------------------------------------------------- instruments


class MeasureCodeField(serializers.CharField):
    """A published measure's code (instruments/): the built-in ones and the practice's own, so not an enum."""

    default_error_messages = {"invalid_choice": '"{input}" is not a valid choice.'}

    def __init__(self, **kwargs):
        super().__init__(max_length=32, help_text="A measure's code (instruments/).", **kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        if selectors.current_measure(code) is None:
            self.fail("invalid_choice", input=code)
        return code


class OptionSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    label = serializers.CharField()


class ItemSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="Its place, from 1: answers are given in this order.")
    key = serializers.CharField()
    text = serializers.CharField()
    options = OptionSerializer(many=True)
    reverse = serializers.BooleanField(
        help_text="Scored from the other end: the option's value counts as min + max - value."
    )


class SubscaleSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    items = serializers.ListField(child=serializers.CharField(), help_text="The keys of the items it sums.")


class BandSerializer(serializers.Serializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField()
    label = serializers.CharField()


class InstrumentSerializer(serializers.Serializer):
    code = serializers.CharField()
    version = serializers.IntegerField(
        help_text="The version new answers are scored with; each assessment keeps its own."
    )
    name = serializers.CharField()
    prompt = serializers.CharField()
    citation = serializers.CharField()
    licence = serializers.CharField()
    source = serializers.CharField(help_text="Where the measure is published; may be empty.")
    items = ItemSerializer(many=True)
    subscales = SubscaleSerializer(many=True)
    min_total = serializers.IntegerField()
    max_total = serializers.IntegerField()
    bands = BandSerializer(many=True)
    direction = serializers.ChoiceField(choices=[instruments.LOWER_IS_BETTER, instruments.HIGHER_IS_BETTER])
    cutoff = serializers.FloatField(help_text="Caseness: at or above for lower-is-better, below for higher-is-better.")
    reliable_change_threshold = serializers.SerializerMethodField(
        help_text="Points of change that count as reliable; null while not configured (CSI-4, see the docs)."
    )

    def get_reliable_change_threshold(self, instrument) -> float | None:
        threshold = instruments.reliable_change_threshold(instrument)
        return None if threshold is None else round(threshold, 2)


@extend_schema_serializer(many=False)  # already the page: the list action's answer is one of these, not an array
class InstrumentListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = InstrumentSerializer(many=True)


@extend_schema_view(
    list=extend_schema(
        summary="List the measures: PHQ-9, GAD-7, CSI-4 and the practice's own",
        tags=["outcomes"],
        responses=InstrumentListSerializer,
    ),
    retrieve=extend_schema(
        summary="Get a measure: items, answer options, scoring", tags=["outcomes"], responses=InstrumentSerializer
    ),
)
class InstrumentViewSet(ResourceViewSet):
    """The measures are published definitions, the same for everyone in the practice (not clinical records: no audit,
    no ETag)."""

    resource = "instrument"
    audited = False
    etag = False
    serializer_class = InstrumentSerializer
    pagination_class = SinglePage
    filter_backends = []  # a handful of measures: nothing to filter
    read_scopes = [["clinical:read"], ["homework"]]
    allowed_roles = [*CLINICIANS, Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9_]+"

    def list(self, request):
        return self.page([measure for _, measure in selectors.current_measures()])

    def retrieve(self, request, code=None):
        current = selectors.current_measure(code)
        if current is None:
            raise Http404
        return self.respond(current[1], fetched=True)


# ---------------------------------------------------------------- assessments


class AssessmentSerializer(serializers.ModelSerializer):
    answers = serializers.ListField(child=serializers.IntegerField())
    reliable_change = serializers.SerializerMethodField(
        help_text="Against the baseline: improved, deteriorated or none; null for the baseline itself or when "
        "not available."
    )

    class Meta:
        model = Assessment
        fields = [
            "id",
            "client",
            "case",
            "instrument",
            "answers",
            "administered_at",
            "source",
            "schedule",
            "recorded_by",
            "total",
            "subscales",
            "band",
            "is_baseline",
            "change",
            "reliable_change",
            "clinically_significant",
            "recovered",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    subscales = serializers.DictField(
        child=serializers.IntegerField(), help_text="Each subscale's total, by its key; empty for a measure without."
    )

    def get_reliable_change(self, assessment) -> str | None:
        return assessment.reliable_change or None


class AssessmentCreateSerializer(JSONTypes, serializers.Serializer):
    """A clinician names client, case and instrument; a client names the schedule they are answering."""

    instrument = MeasureCodeField()
    answers = serializers.ListField(
        child=serializers.IntegerField(), max_length=200, help_text="One answer value per item, in item order."
    )
    administered_at = serializers.DateTimeField()
    client = ScopedPrimaryKeyRelatedField(selectors.clients_visible_to, required=False)
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to, required=False)
    schedule = ScopedPrimaryKeyRelatedField(selectors.schedules_visible_to, required=False)

    def validate(self, data):
        if self.context["request"].user.role == Role.CLIENT:
            if "schedule" not in data:
                raise serializers.ValidationError({"schedule": ["The schedule you are answering."]})
        elif "client" not in data or "case" not in data:
            raise serializers.ValidationError({"case": ["Name the client and the case."]})
        return data


def _client_app(request) -> bool:
    return request.user.role == Role.CLIENT


class AssessmentFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    client = filters.UUIDFilter()
    instrument = filters.CharFilter(max_length=32, help_text="A measure's code.")

    class Meta:
        model = Assessment
        fields = ["case", "client", "instrument"]


@extend_schema_view(
    list=extend_schema(summary="List assessments", tags=["outcomes"]),
    retrieve=extend_schema(summary="Get an assessment with its change against baseline", tags=["outcomes"]),
    create=extend_schema(
        summary="Record an assessment (clinician) or self-report one (client app)",
        description="Answers are scored; change, reliable change and recovery are computed against the client's "
        "first assessment of that instrument on the case. A PHQ-9 with item 9 above 0 raises a safety alert in "
        "the same transaction. Client apps must send Idempotency-Key.",
        tags=["outcomes"],
    ),
)
class AssessmentViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    resource = "assessment"
    selector = selectors.assessments_visible_to
    serializer_class = AssessmentSerializer
    filterset_class = AssessmentFilter
    request_serializers = {"create": AssessmentCreateSerializer}
    read_scopes = [["clinical:read"], ["homework"]]
    write_scopes = [["clinical:write"], ["homework"]]
    allowed_roles = [*CLINICIANS, Role.CLIENT]
    http_method_names = ["get", "post", "head", "options"]
    problems = {"create": ["schedule_required", "schedule_cancelled", "not_case_clinician"]}
    create_service = services.assessment_record
    idempotency_required = _client_app


# ---------------------------------------------------------------- schedules and what is due


class ScheduleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssessmentSchedule
        fields = [
            "id",
            "client",
            "case",
            "instrument",
            "frequency",
            "start_date",
            "end_date",
            "status",
            "created_by",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class ScheduleCreateSerializer(JSONTypes, serializers.Serializer):
    client = ScopedPrimaryKeyRelatedField(selectors.clients_visible_to)
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to)
    instrument = MeasureCodeField()
    frequency = serializers.ChoiceField(choices=ScheduleFrequency.choices)
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False, allow_null=True)


@extend_schema_view(
    list=extend_schema(summary="List self-report schedules", tags=["outcomes"]),
    retrieve=extend_schema(summary="Get a self-report schedule", tags=["outcomes"]),
    create=extend_schema(
        summary="Ask a client to self-report a measure, once or regularly",
        description="`before_each_session` asks for it MEASURE_BEFORE_SESSION_HOURS (48) before each scheduled "
        "session of the case the client attends, until the session starts; cancelling the session withdraws it.",
        tags=["outcomes"],
    ),
)
class ScheduleViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    resource = "assessment_schedule"
    object_keyword = "schedule"
    selector = selectors.schedules_visible_to
    serializer_class = ScheduleSerializer
    request_serializers = {"create": ScheduleCreateSerializer}
    http_method_names = ["get", "post", "head", "options"]
    problems = {
        "create": ["not_case_clinician", "case_closed"],
        "cancel": ["not_case_clinician", "schedule_cancelled"],
    }
    create_service = services.schedule_create

    @extend_schema(tags=["outcomes"])
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop asking for this measure."""
        return self.act(services.schedule_cancel)


class DueSerializer(serializers.Serializer):
    schedule = serializers.UUIDField(source="schedule.pk")
    case = serializers.UUIDField(source="schedule.case_id")
    frequency = serializers.CharField(source="schedule.frequency")
    due_since = serializers.DateField(
        help_text="The day it became due: the period's first day, or for before_each_session the day its window "
        "opened (MEASURE_BEFORE_SESSION_HOURS before the session)."
    )
    session = serializers.UUIDField(
        allow_null=True, help_text="before_each_session: the session (me/sessions/) it is asked before; else null."
    )
    due_before = serializers.DateTimeField(
        allow_null=True,
        help_text="before_each_session: the session's start, after which it is no longer asked; else null.",
    )
    instrument = InstrumentSerializer()


@extend_schema_serializer(many=False)  # already the page: the list action's answer is one of these, not an array
class DueListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DueSerializer(many=True)


@extend_schema_view(
    list=extend_schema(responses=DueListSerializer, tags=["me"], operation_id="me_assessments_due_retrieve"),
)
class MyAssessmentsDueViewSet(ListMixin, ResourceViewSet):
    resource = "assessment_schedule"
    serializer_class = DueSerializer
    pagination_class = SinglePage
    filter_backends = []  # what is due now, computed
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    etag = False

    def list(self, request):
        """Measures I am asked to fill in now (client app)

        Answer each with POST /api/v1/assessments/ naming the schedule, with an Idempotency-Key. A
        before_each_session schedule lists one item per session due (`session`, `due_before`); a cancelled session
        withdraws its item.
        """
        measures = {row.code: measure for row, measure in selectors.current_measures()}
        due = [
            {
                "schedule": item.schedule,
                "due_since": item.since,
                "session": item.session_id,
                "due_before": item.due_before,
                "instrument": measures[item.schedule.instrument],
            }
            for item in selectors.assessments_due_for(user=request.user)
        ]
        return self.page(due)

    def audited_ids(self, rows) -> list:
        return [row["schedule"].pk for row in rows]
