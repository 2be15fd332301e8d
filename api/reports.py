"""The caseload and outcome reports, per clinician the caller may report on: JSON, or CSV."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import reports, selectors
from clinical.models import GoalDomain

from .json_types import JSONTypes
from .renderers import CSVRenderer, JSONRenderer
from .replica import SERVED_BY_PARAMETER, routed_read, with_served_by
from .viewsets import CLINICIANS, ResourceViewSet

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
    conjoint_holds = serializers.IntegerField(
        help_text="Couple cases whose joint work is held after a positive safety screen, awaiting a decision."
    )
    sessions_attended = serializers.IntegerField(help_text="Sessions of the last 28 days, by what became of them.")
    sessions_cancelled = serializers.IntegerField()
    sessions_late_cancelled = serializers.IntegerField()
    sessions_no_show = serializers.IntegerField()
    sessions_missing_note = serializers.IntegerField(
        help_text="Attended sessions without a signed note NOTE_GRACE_HOURS (72) after they ended (notes/missing/)."
    )


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
    sessions_attended = serializers.IntegerField(
        help_text="The cases' sessions in the period (from `from`, if any, to the end of `to`), by outcome."
    )
    sessions_cancelled = serializers.IntegerField()
    sessions_late_cancelled = serializers.IntegerField()
    sessions_no_show = serializers.IntegerField()
    instruments = InstrumentOutcomesSerializer()
    measures = serializers.DictField(
        child=InstrumentOutcomeSerializer(),
        help_text=(
            "The same figures for every published measure (`GET /instruments/`), by the measure's code: the "
            "built-in ones (as in `instruments`) and the practice's own, built-in first, then by code; a measure "
            "nobody has a baseline and a later score of has `n_clients` 0 and no figures. In CSV: columns such as "
            "`measures_phq9_mean_change`."
        ),
    )


class OutcomesReportSerializer(serializers.Serializer):
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField()
    domain = serializers.CharField(allow_null=True)
    rows = OutcomeRowSerializer(many=True)
    total = OutcomeRowSerializer()


# `from` is a Python keyword, so the query serializer is built from a dict.
OutcomesQuerySerializer = type(
    "OutcomesQuerySerializer",
    (JSONTypes, serializers.Serializer),
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


class CaseloadQuerySerializer(JSONTypes, serializers.Serializer):
    clinician = serializers.UUIDField(required=False)


CLINICIAN_PARAMETER = OpenApiParameter(
    "clinician", OpenApiTypes.UUID, description="Only this clinician (one you may report on)."
)


OUTCOMES_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="Cases active on or after this date."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Up to this date (default today)."),
    OpenApiParameter("domain", str, enum=GoalDomain.values, description="Only cases with a goal here."),
    CLINICIAN_PARAMETER,
    SERVED_BY_PARAMETER,
]
CSV = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="One line per row; nested figures flattened.")}


class ReportViewSet(ResourceViewSet):
    """Reports name clinicians and count their work: each read is audited, naming whom it covered. Each report is
    served twice, as JSON and as CSV (`reports/caseload.csv`), so that a generated client knows what it gets."""

    resource = "report"
    selector = selectors.clinicians_reportable_by
    read_scopes = ["reports"]
    allowed_roles = CLINICIANS
    http_method_names = ["get", "head", "options"]
    query_serializers = {
        "caseload": CaseloadQuerySerializer,
        "caseload_csv": CaseloadQuerySerializer,
        "outcomes": OutcomesQuerySerializer,
        "outcomes_csv": OutcomesQuerySerializer,
    }
    etag = False
    # ?clinician= naming someone the caller may not report on
    problems = {report: ["not_found"] for report in query_serializers}

    def chosen_clinician(self, clinician_id):
        """`?clinician=`: one of the clinicians the caller may report on; anyone else answers 404."""
        return None if clinician_id is None else get_object_or_404(self.get_queryset(), pk=clinician_id)

    def caseload_report(self):
        clinician = self.chosen_clinician(self.validated_query().get("clinician"))
        user = self.request.user
        # The figures may come from the read replica (api/replica.py); the audit event goes to the primary.
        rows, served_by = routed_read(
            self.request, lambda using: reports.caseload_report(user=user, clinician=clinician, using=using)
        )
        return self.report({"rows": rows}, rows, served_by, CaseloadReportSerializer, "caseload")

    def outcomes_report(self):
        params = self.validated_query()
        clinician = self.chosen_clinician(params.get("clinician"))
        user = self.request.user
        report, served_by = routed_read(
            self.request,
            lambda using: reports.outcomes_report(
                user=user,
                date_from=params.get("from"),
                date_to=params.get("to"),
                domain=params.get("domain"),
                clinician=clinician,
                using=using,
            ),
        )
        return self.report(report, report["rows"], served_by, OutcomesReportSerializer, "outcomes")

    def report(self, body, rows, served_by, serializer_class, name):
        ids = [row["clinician"] for row in rows]
        answer = self.present(body, serializer_class, audit_as="report", ids=ids, detail={"report": name})
        return with_served_by(answer, served_by)

    @extend_schema(
        parameters=[CLINICIAN_PARAMETER, SERVED_BY_PARAMETER],
        responses=CaseloadReportSerializer,
        tags=["reports"],
        operation_id="reports_caseload_retrieve",
    )
    @action(detail=False, methods=["get"], pagination_class=None, renderer_classes=[JSONRenderer])
    def caseload(self, request):
        """Caseload report: per clinician you may report on (yourself; a supervisor also their supervisees)

        Open cases, goals by status, active homework and adherence, overdue homework, notes unsigned 72 h after
        the session, notes awaiting co-signature, unacknowledged alerts. As CSV: `reports/caseload.csv`.
        """
        return self.caseload_report()

    @extend_schema(
        parameters=[CLINICIAN_PARAMETER, SERVED_BY_PARAMETER],
        responses=CSV,
        tags=["reports"],
        operation_id="reports_caseload_csv_retrieve",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="caseload.csv",
        pagination_class=None,
        renderer_classes=[CSVRenderer],
    )
    def caseload_csv(self, request):
        """Caseload report as CSV: one line per clinician, the same columns as the JSON report"""
        return self.caseload_report()

    @extend_schema(
        parameters=OUTCOMES_PARAMETERS,
        responses=OutcomesReportSerializer,
        tags=["reports"],
        operation_id="reports_outcomes_retrieve",
    )
    @action(detail=False, methods=["get"], pagination_class=None, renderer_classes=[JSONRenderer])
    def outcomes(self, request):
        """Outcomes report: per clinician and in total, with the period, domain and clinician filters

        Cases, goals achieved, mean GAS T, homework adherence, and per measure the clients with a baseline and a
        later score, mean change, reliably improved, deteriorated and recovered; with mean change for clients
        whose homework adherence is at least 0.7 against those below: the built-in measures in `instruments`,
        every published measure (the practice's own too) in `measures`. As CSV: `reports/outcomes.csv`.
        """
        return self.outcomes_report()

    @extend_schema(
        parameters=OUTCOMES_PARAMETERS,
        responses=CSV,
        tags=["reports"],
        operation_id="reports_outcomes_csv_retrieve",
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="outcomes.csv",
        pagination_class=None,
        renderer_classes=[CSVRenderer],
    )
    def outcomes_csv(self, request):
        """Outcomes report as CSV: one line per clinician and a total line, nested figures flattened into columns"""
        return self.outcomes_report()
