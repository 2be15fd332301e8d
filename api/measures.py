"""Standard measures: the instruments (PHQ-9, GAD-7, CSI-4 and a practice's own), assessments (clinician-recorded
or self-reported), self-report schedules, and what a client is asked to fill in now (me/assessments-due)."""

import json

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action

from clinical import instruments, selectors
from clinical.models import Assessment, AssessmentSchedule, Role, ScheduleFrequency
from clinical.services import instruments as publishing
from clinical.services import measures as services

from .filters import ScopedIdFilter
from .idempotency import idempotent
from .json_types import JSONTypes
from .pagination import CreatedCursorPagination, SinglePage
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


# A measure's definition as a practice publishes it: the format of clinical/instrument_definitions.yaml. The
# serializers give it its types and the limits a schema can state; every rule between its parts (unique item keys,
# bands covering the range of the total, a cut-off inside it, subscales and risk rules naming items that exist, ...)
# is the engine's (clinical.instruments.definition_problems), checked by the publishing service.


class DefinitionNumberField(serializers.FloatField):
    """A number kept as it was sent: a whole number stays whole, so the definition published is the one written (its
    content hash says whether a new version changed anything)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return data if isinstance(data, int) and not isinstance(data, bool) else value

    def to_representation(self, value):
        return value


def _key(**kwargs):
    return serializers.RegexField(instruments.KEY.pattern, max_length=32, **kwargs)


class DefinitionOptionSerializer(serializers.Serializer):
    value = serializers.IntegerField(
        min_value=0, max_value=instruments.MAX_OPTION_VALUE, help_text="Unique within the item."
    )
    label = serializers.CharField(max_length=200)


class DefinitionItemSerializer(serializers.Serializer):
    key = _key(help_text="Unique within the measure; subscales and risk rules name items by it.")
    text = serializers.CharField(max_length=2000)
    options = serializers.ListField(
        child=DefinitionOptionSerializer(), min_length=2, max_length=instruments.MAX_OPTION_VALUE + 1
    )
    reverse = serializers.BooleanField(
        required=False, help_text="Scored from the other end: the option's value counts as min + max - value."
    )


class DefinitionSubscaleSerializer(serializers.Serializer):
    key = _key(help_text="Unique among the subscales; assessments give each subscale's total by it.")
    name = serializers.CharField(max_length=200)
    items = serializers.ListField(child=_key(), min_length=1, help_text="The keys of the items it sums, each once.")


class DefinitionBandSerializer(serializers.Serializer):
    low = serializers.IntegerField(min_value=0, max_value=instruments.MAX_ITEMS * instruments.MAX_OPTION_VALUE)
    high = serializers.IntegerField(min_value=0, max_value=instruments.MAX_ITEMS * instruments.MAX_OPTION_VALUE)
    label = serializers.CharField(max_length=100)


class CasenessSerializer(serializers.Serializer):
    at_or_above = DefinitionNumberField(
        required=False, help_text="For a measure where lower is better: a case at or above this total."
    )
    below = DefinitionNumberField(
        required=False, help_text="For a measure where higher is better: a case below this total."
    )
    source = serializers.CharField(max_length=2000, help_text="Where the cut-off comes from.")


class ReliableChangeSerializer(serializers.Serializer):
    points = serializers.IntegerField(
        required=False, min_value=1, help_text="A fixed threshold: a change of this many points is reliable."
    )
    sd = DefinitionNumberField(
        required=False,
        min_value=0,
        help_text="Jacobson & Truax: the standard deviation of the total, above 0 (with `reliability`).",
    )
    reliability = DefinitionNumberField(
        required=False, min_value=0, max_value=1, help_text="Jacobson & Truax: the total's reliability, 0 < r < 1."
    )
    citation = serializers.CharField(max_length=2000, help_text="The source the parameters are taken from.")


class RiskRuleSerializer(serializers.Serializer):
    item = _key(help_text="The key of the item it watches.")
    at_or_above = serializers.IntegerField(
        min_value=1,
        max_value=instruments.MAX_OPTION_VALUE,
        help_text="An answer at or above this value raises the alert (above the item's lowest option).",
    )
    alert = serializers.RegexField(
        instruments.CODE.pattern, max_length=32, help_text="The safety alert's kind, e.g. `phq9_item9`."
    )
    detail = serializers.CharField(
        max_length=300, help_text="The alert's text; may name {answer}, {max} and {item}, nothing else in braces."
    )


class InstrumentDefinitionSerializer(JSONTypes, serializers.Serializer):
    """A measure's definition, in the format of the built-in ones (docs/outcome-measures.md)."""

    code = serializers.RegexField(
        instruments.CODE.pattern,
        max_length=32,
        help_text="2 to 32 lowercase letters, digits or underscores, starting with a letter; the measure's name in "
        "URLs, assessments and schedules.",
    )
    name = serializers.CharField(max_length=200)
    prompt = serializers.CharField(max_length=1000, help_text="What the client reads before the items.")
    citation = serializers.CharField(max_length=2000, help_text="The measure's published source.")
    licence = serializers.CharField(max_length=500, help_text="Under what terms the practice uses it.")
    source = serializers.CharField(required=False, max_length=500, help_text="Where the measure is published.")
    items = serializers.ListField(child=DefinitionItemSerializer(), min_length=1, max_length=instruments.MAX_ITEMS)
    subscales = DefinitionSubscaleSerializer(many=True, required=False)
    bands = serializers.ListField(
        child=DefinitionBandSerializer(),
        min_length=1,
        help_text="Labels covering the range of the total, without gap or overlap.",
    )
    direction = serializers.ChoiceField(choices=list(instruments.DIRECTIONS))
    caseness = CasenessSerializer(help_text="The cut-off: `at_or_above` (lower is better) or `below` (higher).")
    reliable_change = ReliableChangeSerializer(
        required=False,
        help_text="Optional: `points`, or `sd` and `reliability` (Jacobson & Truax), always with their citation.",
    )
    risk_rules = RiskRuleSerializer(many=True, required=False)


def _definition(validated) -> dict:
    """The validated body as plain JSON values, as it is published and hashed."""
    return json.loads(json.dumps(validated))


class InstrumentVersionSerializer(serializers.Serializer):
    code = serializers.CharField(source="instrument.code")
    number = serializers.IntegerField(help_text="From 1; assessments name the version they were scored with.")
    current = serializers.SerializerMethodField(help_text="The version new assessments are scored with.")
    published_at = serializers.DateTimeField(source="created_at")
    published_by = serializers.UUIDField(
        source="published_by_id",
        allow_null=True,
        help_text="The admin who published it; null for a release of the built-in definitions.",
    )
    content_hash = serializers.CharField(help_text="SHA-256 of the definition: the same text, the same hash.")
    definition = InstrumentDefinitionSerializer(help_text="The definition as published.")

    def get_current(self, version) -> bool:
        return version.instrument.current_id == version.pk


# The largest version number the database holds (a PostgreSQL integer): a larger one in a path is no version.
MAX_VERSION_NUMBER = 2**31 - 1


@extend_schema_view(
    list=extend_schema(
        summary="List the measures: PHQ-9, GAD-7, CSI-4 and the practice's own",
        tags=["outcomes"],
        responses=InstrumentListSerializer,
    ),
    retrieve=extend_schema(
        summary="Get a measure: items, answer options, scoring", tags=["outcomes"], responses=InstrumentSerializer
    ),
    create=extend_schema(
        summary="Publish a practice's own measure (admin)",
        description="The body is the measure's definition, in the format of the built-in ones "
        "(docs/outcome-measures.md); it becomes version 1. Besides the types checked here, the definition must hold "
        "together: unique item keys, option values unique within their item, bands covering the range of the "
        "total without gap or overlap, a caseness cut-off on the side the direction says and inside the range, "
        "subscales and risk rules naming items of the measure. Each problem is answered with 400 naming where it "
        "is (`items.2.options.1.value`, `bands`, ...), and nothing is published. A code a measure already has, "
        "or one of the built-in measures', is refused with 409 `instrument_code_taken`: publish a new version of "
        "that measure instead.",
        tags=["outcomes"],
        responses={201: InstrumentSerializer},
    ),
    versions=extend_schema(
        summary="List a measure's versions, each with its definition (staff and admin)",
        description="Oldest first. An assessment keeps the version it was scored with; the `current` one scores "
        "new assessments.",
        tags=["outcomes"],
        responses=InstrumentVersionSerializer(many=True),
    ),
    version=extend_schema(
        summary="Get one version of a measure, with its definition (staff and admin)",
        tags=["outcomes"],
        parameters=[
            OpenApiParameter(
                "number",
                {"type": "integer", "minimum": 1, "maximum": MAX_VERSION_NUMBER},
                OpenApiParameter.PATH,
                description="The version's number, from 1.",
            )
        ],
        responses=InstrumentVersionSerializer,
    ),
)
class InstrumentViewSet(ResourceViewSet):
    """The measures are published definitions, the same for everyone in the practice (not clinical records: no read
    audit, no ETag). Clinicians schedule and record them, clients answer them; the practice admin publishes its own
    and new versions, each publication audited by its service."""

    resource = "instrument"
    selector = selectors.instruments_visible_to
    audited = False
    etag = False
    serializer_class = InstrumentSerializer
    pagination_class = SinglePage
    filter_backends = []  # a handful of measures: nothing to filter
    read_scopes = [["clinical:read"], ["homework"], ["admin"]]
    write_scopes = ["admin"]
    # A measure's history is staff's and the admin's; the app answers the current version.
    action_scopes = {"versions": [["clinical:read"], ["admin"]], "version": [["clinical:read"], ["admin"]]}
    allowed_roles = [*CLINICIANS, Role.CLIENT, Role.ADMIN]
    action_roles = {
        "create": [Role.ADMIN],
        "publish_version": [Role.ADMIN],
        "versions": [*CLINICIANS, Role.ADMIN],
        "version": [*CLINICIANS, Role.ADMIN],
    }
    http_method_names = ["get", "post", "head", "options"]
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9_]+"
    request_serializers = {"create": InstrumentDefinitionSerializer, "publish_version": InstrumentDefinitionSerializer}
    problems = {"create": ["instrument_code_taken"], "publish_version": ["definition_unchanged"]}
    page_actions = ("list", "versions")

    def list(self, request):
        return self.page([measure for _, measure in selectors.current_measures()])

    def retrieve(self, request, code=None):
        current = selectors.current_measure(code)
        if current is None:
            raise Http404
        return self.respond(current[1], fetched=True)

    @idempotent(required="view")
    def create(self, request):
        instrument = publishing.instrument_create(actor=request.user, definition=_definition(self.validated()))
        return self.respond(instruments.measure_of(instrument.current), status.HTTP_201_CREATED, fetched=True)

    @action(
        detail=True,
        methods=["get"],
        serializer_class=InstrumentVersionSerializer,
        pagination_class=CreatedCursorPagination,
    )
    def versions(self, request, code=None):
        return self.page(self._versions())

    @extend_schema(
        summary="Publish a new version of a measure (admin)",
        description="A practice's own measure, or a built-in one: a CSI-4 with the reliable-change parameters "
        "(`sd`, `reliability` and their `citation`) of a source the practice holds, say. The body is the whole "
        "new definition, with the measure's code, validated as on create. New assessments are scored with the "
        "new version; earlier ones keep the version they were scored with, and their figures. A built-in measure "
        "stays built-in: a later release of the definitions file becomes a newer version still. A definition "
        "equal to the current version's is refused with 409 `definition_unchanged`.",
        tags=["outcomes"],
        request=InstrumentDefinitionSerializer,
        responses={201: InstrumentVersionSerializer},
    )
    @versions.mapping.post
    @idempotent
    def publish_version(self, request, code=None):
        instrument = self.get_object()
        published = publishing.instrument_version_publish(
            actor=request.user, instrument=instrument, definition=_definition(self.validated())
        )
        version = self._versions(published).get(pk=published.current_id)
        return self.respond(
            version, status.HTTP_201_CREATED, fetched=True, serializer_class=InstrumentVersionSerializer
        )

    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>[0-9]+)",
        serializer_class=InstrumentVersionSerializer,
    )
    def version(self, request, code=None, number=None):
        if len(number) > 10 or int(number) > MAX_VERSION_NUMBER:
            raise Http404
        version = self._versions().filter(number=int(number)).first()
        if version is None:
            raise Http404
        return self.respond(version, fetched=True)

    def _versions(self, instrument=None):
        """The versions of the measure the path names (404 for none), as the caller may read them."""
        instrument = instrument or self.get_object()
        return selectors.instrument_versions_visible_to(user=self.request.user).filter(instrument=instrument)


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
