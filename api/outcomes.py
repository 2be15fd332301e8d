"""Standard measures: instruments, assessments (clinician-recorded or self-reported), schedules, safety alerts,
a case's outcomes (JSON and a PNG chart), and the caseload and outcome reports (JSON and CSV)."""

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import ViewSet

from clinical import instruments, reports, selectors
from clinical.audit import audit_record
from clinical.case_outcomes import case_outcomes, render_chart
from clinical.models import (
    INSTRUMENT_CODES,
    Assessment,
    AssessmentSchedule,
    GoalDomain,
    Role,
    SafetyAlert,
    ScheduleFrequency,
)
from clinical.services import outcomes as services

from .audit import audit_read
from .filters import ScopedIdFilter, reject_blank
from .idempotency import idempotent
from .json_types import JSONTypes
from .records import CLINICIANS, ClinicalViewSet, ReadMixin
from .renderers import CSVRenderer, JSONRenderer
from .replica import SERVED_BY_PARAMETER, routed_read, with_served_by
from .scoping import ScopedPrimaryKeyRelatedField

# ---------------------------------------------------------------- instruments


class OptionSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    label = serializers.CharField()


class ItemSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    text = serializers.CharField()
    options = OptionSerializer(many=True)


class BandSerializer(serializers.Serializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField()
    label = serializers.CharField()


class InstrumentSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    prompt = serializers.CharField()
    citation = serializers.CharField()
    items = ItemSerializer(many=True)
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
        summary="List the standard measures (PHQ-9, GAD-7, CSI-4)",
        tags=["outcomes"],
        responses=InstrumentListSerializer,
    ),
    retrieve=extend_schema(
        summary="Get a measure: items, answer options, scoring", tags=["outcomes"], responses=InstrumentSerializer
    ),
)
class InstrumentViewSet(ViewSet):
    """The measures are data shipped with the API, the same for everyone."""

    read_scopes = [["clinical:read"], ["homework"]]
    allowed_roles = [*CLINICIANS, Role.CLIENT]
    lookup_field = "code"
    lookup_value_regex = "[a-z0-9]+"

    def list(self, request):
        results = InstrumentSerializer(instruments.INSTRUMENTS.values(), many=True).data
        return Response({"next": None, "previous": None, "results": results})

    def retrieve(self, request, code=None):
        if code not in instruments.INSTRUMENTS:
            raise Http404
        return Response(InstrumentSerializer(instruments.INSTRUMENTS[code]).data)


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

    def get_reliable_change(self, assessment) -> str | None:
        return assessment.reliable_change or None


class AssessmentCreateSerializer(JSONTypes, serializers.Serializer):
    """A clinician names client, case and instrument; a client names the schedule they are answering."""

    instrument = serializers.ChoiceField(choices=INSTRUMENT_CODES)
    answers = serializers.ListField(
        child=serializers.IntegerField(), max_length=20, help_text="One answer value per item, in item order."
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
    case = ScopedIdFilter(selectors.cases_reachable_by, field_name="case")
    client = filters.UUIDFilter()
    instrument = filters.ChoiceFilter(choices=INSTRUMENT_CODES)

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
class AssessmentViewSet(ReadMixin, ClinicalViewSet):
    record_name = "assessment"
    selector = selectors.assessments_visible_to
    serializer_class = AssessmentSerializer
    filterset_class = AssessmentFilter
    request_serializers = {"create": AssessmentCreateSerializer}
    read_scopes = [["clinical:read"], ["homework"]]
    write_scopes = [["clinical:write"], ["homework"]]
    allowed_roles = [*CLINICIANS, Role.CLIENT]
    http_method_names = ["get", "post", "head", "options"]
    extra_problems = {"create": [409]}

    @idempotent(required=_client_app)
    def create(self, request):
        assessment = services.assessment_record(actor=request.user, **self.validated())
        return self.respond(assessment, status.HTTP_201_CREATED)


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
    instrument = serializers.ChoiceField(choices=INSTRUMENT_CODES)
    frequency = serializers.ChoiceField(choices=ScheduleFrequency.choices)
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False, allow_null=True)


@extend_schema_view(
    list=extend_schema(summary="List self-report schedules", tags=["outcomes"]),
    retrieve=extend_schema(summary="Get a self-report schedule", tags=["outcomes"]),
    create=extend_schema(summary="Ask a client to self-report a measure, once or regularly", tags=["outcomes"]),
)
class ScheduleViewSet(ReadMixin, ClinicalViewSet):
    record_name = "assessment_schedule"
    selector = selectors.schedules_visible_to
    serializer_class = ScheduleSerializer
    request_serializers = {"create": ScheduleCreateSerializer}
    http_method_names = ["get", "post", "head", "options"]
    extra_problems = {"create": [409], "cancel": [409]}

    @idempotent
    def create(self, request):
        return self.respond(services.schedule_create(actor=request.user, **self.validated()), status.HTTP_201_CREATED)

    @extend_schema(tags=["outcomes"])
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop asking for this measure."""
        return self.respond(services.schedule_cancel(actor=request.user, schedule=self.get_object()))


class DueSerializer(serializers.Serializer):
    schedule = serializers.UUIDField(source="schedule.pk")
    case = serializers.UUIDField(source="schedule.case_id")
    frequency = serializers.CharField(source="schedule.frequency")
    due_since = serializers.DateField()
    instrument = InstrumentSerializer()


class DueListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DueSerializer(many=True)


class MyAssessmentsDueView(APIView):
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]

    @extend_schema(responses=DueListSerializer, tags=["me"])
    def get(self, request):
        """Measures I am asked to fill in now (client app)

        Answer each with POST /api/v1/assessments/ naming the schedule, with an Idempotency-Key.
        """
        due = selectors.assessments_due_for(user=request.user)
        items = [
            {"schedule": schedule, "due_since": since, "instrument": instruments.INSTRUMENTS[schedule.instrument]}
            for schedule, since in due
        ]
        audit_read(request, "assessment_schedule", [schedule for schedule, _ in due])
        return Response({"next": None, "previous": None, "results": DueSerializer(items, many=True).data})


# ---------------------------------------------------------------- alerts


class AlertSerializer(serializers.ModelSerializer):
    class Meta:
        model = SafetyAlert
        fields = [
            "id",
            "case",
            "client",
            "assessment",
            "kind",
            "detail",
            "acknowledged_by",
            "acknowledged_at",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class AlertFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    acknowledged = filters.BooleanFilter(field_name="acknowledged_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = SafetyAlert
        fields = ["case", "acknowledged"]


@extend_schema_view(
    list=extend_schema(summary="List safety alerts on your cases and your supervisees'", tags=["outcomes"]),
    retrieve=extend_schema(summary="Get a safety alert", tags=["outcomes"]),
)
class AlertViewSet(ReadMixin, ClinicalViewSet):
    record_name = "alert"
    selector = selectors.alerts_visible_to
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    http_method_names = ["get", "post", "head", "options"]
    extra_problems = {"acknowledge": [409]}

    @extend_schema(tags=["outcomes"])
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge a safety alert (the case's clinician or their supervisor)."""
        return self.respond(services.alert_acknowledge(actor=request.user, alert=self.get_object()))


# ---------------------------------------------------------------- a case's outcomes


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


class DiscrepancySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    first_partner_score = serializers.IntegerField()
    second_partner_score = serializers.IntegerField()
    discrepancy = serializers.IntegerField(help_text="Absolute difference of the two partners' CSI-4 totals.")


class CaseOutcomesSerializer(serializers.Serializer):
    case = serializers.UUIDField()
    clients = ClientSeriesSerializer(many=True, help_text="In partner order (first, second).")
    csi4_discrepancy = DiscrepancySerializer(many=True)
    gas_t_score = serializers.FloatField(allow_null=True, help_text="Kiresuk & Sherman, rho 0.3, equal weights.")
    gas_goals = serializers.IntegerField(help_text="Goals with GAS levels and at least one rating.")


def outcomes_body(outcomes) -> dict:
    return {
        "case": outcomes.case.pk,
        "clients": [
            {
                "client": client.pk,
                **{code: outcomes.series[client.pk].get(code, []) for code in instruments.INSTRUMENTS},
            }
            for client in outcomes.clients
        ],
        "csi4_discrepancy": outcomes.discrepancy,
        "gas_t_score": outcomes.gas_t,
        "gas_goals": outcomes.gas_goals,
    }


class CaseOutcomesMixin:
    """On CaseViewSet: GET cases/{id}/outcomes/ and cases/{id}/outcomes/chart.png. The case is found (scoped) on
    the primary; its scores may come from the read replica (api/replica.py)."""

    def _case_outcomes(self, request):
        case = self.get_object()
        audit_read(request, "case_outcomes", [case])
        return routed_read(request, lambda using: case_outcomes(case=case, using=using))

    @extend_schema(tags=["outcomes"], responses=CaseOutcomesSerializer, parameters=[SERVED_BY_PARAMETER])
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def outcomes(self, request, pk=None):
        """A case's outcomes: each client's scores over time, the couple's CSI-4 discrepancy, the GAS T-score."""
        outcomes, served_by = self._case_outcomes(request)
        return with_served_by(Response(CaseOutcomesSerializer(outcomes_body(outcomes)).data), served_by)

    @extend_schema(
        tags=["outcomes"],
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The chart, PNG")},
        parameters=[SERVED_BY_PARAMETER],
    )
    def outcomes_chart(self, request, pk=None):
        """A chart of each client's scores over time per measure, with bands and cut-offs (PNG)."""
        outcomes, served_by = self._case_outcomes(request)
        return with_served_by(Response(render_chart(outcomes), content_type="image/png"), served_by)


# ---------------------------------------------------------------- reports


class CaseloadRowSerializer(serializers.Serializer):
    clinician = serializers.UUIDField()
    clinician_name = serializers.CharField()
    open_cases = serializers.IntegerField()
    paused_cases = serializers.IntegerField()
    goals_proposed = serializers.IntegerField()
    goals_active = serializers.IntegerField()
    goals_on_hold = serializers.IntegerField()
    goals_completed = serializers.IntegerField()
    goals_cancelled = serializers.IntegerField()
    active_homework = serializers.IntegerField()
    homework_adherence = serializers.FloatField(allow_null=True, help_text="Completed / expected to date.")
    overdue_homework = serializers.IntegerField()
    notes_unsigned_over_72h = serializers.IntegerField()
    notes_awaiting_cosign = serializers.IntegerField()
    unacknowledged_alerts = serializers.IntegerField()


class CaseloadReportSerializer(serializers.Serializer):
    rows = CaseloadRowSerializer(many=True)


class InstrumentOutcomeSerializer(serializers.Serializer):
    n_clients = serializers.IntegerField()
    mean_change = serializers.FloatField(allow_null=True)
    reliably_improved_rate = serializers.FloatField(allow_null=True)
    reliably_deteriorated_rate = serializers.FloatField(allow_null=True)
    recovered_rate = serializers.FloatField(allow_null=True)
    mean_change_adherence_at_least_0_7 = serializers.FloatField(allow_null=True)
    mean_change_adherence_below_0_7 = serializers.FloatField(allow_null=True)


class InstrumentOutcomesSerializer(serializers.Serializer):
    phq9 = InstrumentOutcomeSerializer()
    gad7 = InstrumentOutcomeSerializer()
    csi4 = InstrumentOutcomeSerializer()


class OutcomeRowSerializer(serializers.Serializer):
    clinician = serializers.UUIDField(allow_null=True, help_text="Null on the total row.")
    clinician_name = serializers.CharField()
    cases = serializers.IntegerField()
    goals_achieved_rate = serializers.FloatField(allow_null=True)
    mean_gas_t = serializers.FloatField(allow_null=True)
    homework_adherence = serializers.FloatField(allow_null=True)
    instruments = InstrumentOutcomesSerializer()


class OutcomesReportSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField()
    domain = serializers.CharField(allow_null=True)
    rows = OutcomeRowSerializer(many=True)
    total = OutcomeRowSerializer()


# `from` is a Python keyword, so the query serializer is built from a dict.
OutcomesQuerySerializer = type(
    "OutcomesQuerySerializer",
    (serializers.Serializer,),
    {
        "from": serializers.DateField(required=False),
        "to": serializers.DateField(required=False),
        "domain": serializers.ChoiceField(choices=GoalDomain.choices, required=False),
        "clinician": serializers.UUIDField(required=False),
        "validate": lambda self, data: _check_period(data),
    },
)


def _check_period(data):
    if data.get("from") and data.get("to") and data["from"] > data["to"]:
        raise serializers.ValidationError({"from": ["`from` must not come after `to`."]})
    return data


class ReportView(APIView):
    read_scopes = ["reports"]
    allowed_roles = CLINICIANS
    renderer_classes = [JSONRenderer, CSVRenderer]
    extra_problems = {"get": [404]}  # ?clinician= naming someone the caller may not report on

    def validated_query(self, serializer_class) -> dict:
        query_params = self.request.query_params
        reject_blank(query_params, serializer_class().fields)  # none of them can be an empty string
        query = serializer_class(data=query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data

    def chosen_clinician(self, clinician_id):
        """`?clinician=`: one of the clinicians the caller may report on; anyone else answers 404."""
        if clinician_id is None:
            return None
        for clinician in reports.reportable_clinicians(user=self.request.user):
            if clinician.pk == clinician_id:
                return clinician
        raise Http404

    def audit(self, rows) -> None:
        """A report names clinicians and counts their work: record who read it and about whom."""
        audit_record(
            actor=self.request.user,
            action="read",
            object_type="report",
            object_ids=[row["clinician"] for row in rows],
            detail={"report": self.report_name},
        )


class CaseloadQuerySerializer(serializers.Serializer):
    clinician = serializers.UUIDField(required=False)


CLINICIAN_PARAMETER = OpenApiParameter(
    "clinician", OpenApiTypes.UUID, description="Only this clinician (one you may report on)."
)


class CaseloadReportView(ReportView):
    report_name = "caseload"

    @extend_schema(
        parameters=[CLINICIAN_PARAMETER, SERVED_BY_PARAMETER],
        responses={200: CaseloadReportSerializer, (200, "text/csv"): OpenApiTypes.STR},
        tags=["reports"],
    )
    def get(self, request):
        """Caseload report: per clinician you may report on (yourself; a supervisor also their supervisees)

        Open cases, goals by status, active homework and adherence, overdue homework, notes unsigned 72 h after
        the session, notes awaiting co-signature, unacknowledged alerts. JSON, or CSV with Accept: text/csv or
        ?format=csv.
        """
        query = self.validated_query(CaseloadQuerySerializer)
        clinician = self.chosen_clinician(query.get("clinician"))
        # The figures may come from the read replica (api/replica.py); the audit event goes to the primary.
        rows, served_by = routed_read(
            request, lambda using: reports.caseload_report(user=request.user, clinician=clinician, using=using)
        )
        self.audit(rows)
        return with_served_by(Response({"rows": rows}), served_by)


class OutcomesReportView(ReportView):
    report_name = "outcomes"

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="Cases active on or after this date."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Up to this date (default today)."),
            OpenApiParameter("domain", str, enum=GoalDomain.values, description="Only cases with a goal here."),
            CLINICIAN_PARAMETER,
            SERVED_BY_PARAMETER,
        ],
        responses={200: OutcomesReportSerializer, (200, "text/csv"): OpenApiTypes.STR},
        tags=["reports"],
    )
    def get(self, request):
        """Outcomes report: per clinician and in total, with the period, domain and clinician filters

        Cases, goals achieved, mean GAS T, homework adherence, and per measure the clients with a baseline and a
        later score, mean change, reliably improved, deteriorated and recovered; with mean change for clients
        whose homework adherence is at least 0.7 against those below. JSON or CSV.
        """
        params = dict(self.validated_query(OutcomesQuerySerializer))
        clinician = self.chosen_clinician(params.get("clinician"))
        report, served_by = routed_read(
            request,
            lambda using: reports.outcomes_report(
                user=request.user,
                date_from=params.get("from"),
                date_to=params.get("to"),
                domain=params.get("domain"),
                clinician=clinician,
                using=using,
            ),
        )
        self.audit(report["rows"])
        return with_served_by(Response(OutcomesReportSerializer(report).data), served_by)
