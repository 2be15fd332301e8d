"""The right of access and the right to erasure (issue 17): a client downloads their own record (`me/export/`), and
the practice admin erases a client who has left care (`erasure-requests/`)."""

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from clinical import access, selectors
from clinical.models import (
    CLIENT_DETAILS,
    Assessment,
    Case,
    Client,
    Device,
    ErasureOutcome,
    ErasureRequest,
    HomeworkAssignment,
    HomeworkSubmission,
    NotificationPreferences,
    Role,
    Session,
    SessionRating,
    TreatmentGoal,
    User,
)
from clinical.services import erasure as erasure_services

from .json_types import JSONTypes
from .renderers import FhirElsewhereRenderer, JSONRenderer
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import ConsentSerializer, LocalTimeField, ResponsesField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin

# ---------------------------------------------------------------- the client's own record (me/export/)


class ExportLoginSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "role", "created_at"]
        read_only_fields = fields


class ExportClientSerializer(serializers.ModelSerializer):
    """What the practice records of who you are."""

    class Meta:
        model = Client
        fields = ["id", *CLIENT_DETAILS, "created_at", "updated_at"]
        read_only_fields = fields


class ExportCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = ["id", "subject_type", "status", "opened_on", "closed_on"]
        read_only_fields = fields


class ExportGoalSerializer(serializers.ModelSerializer):
    """A goal as the app shows it (me/goals/): its title, domain and statuses."""

    class Meta:
        model = TreatmentGoal
        fields = ["id", "case", "title", "domain", "lifecycle_status", "achievement_status", "updated_at"]
        read_only_fields = fields


class ExportExerciseSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    exercise = serializers.UUIDField(source="exercise_id")
    number = serializers.IntegerField()
    title = serializers.CharField()


class ExportProgressSerializer(serializers.Serializer):
    completed = serializers.IntegerField(help_text="Distinct days/weeks (or the one time) with a completion of yours.")
    expected = serializers.IntegerField(help_text="Completions expected of you by today (at most the target).")
    adherence = serializers.FloatField(allow_null=True, help_text="completed / expected, 0 to 1; null before start.")


class ExportAssignmentSerializer(serializers.ModelSerializer):
    """Homework given to you, with your own progress."""

    exercise_version = ExportExerciseSerializer(read_only=True)
    my_progress = serializers.SerializerMethodField()

    class Meta:
        model = HomeworkAssignment
        fields = [
            "id",
            "case",
            "exercise_version",
            "mode",
            "instructions",
            "start_date",
            "due_date",
            "frequency",
            "target_count",
            "status",
            "my_progress",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ExportProgressSerializer)
    def get_my_progress(self, assignment):
        mine = self.context["progress"][assignment.pk].by_assignee[self.context["client"].pk]
        return {"completed": mine.completed, "expected": mine.expected, "adherence": mine.adherence}


class ExportSubmissionSerializer(serializers.ModelSerializer):
    """A homework answer as the app shows it: yours, or your partner's where they shared it with you."""

    responses = ResponsesField(read_only=True, help_text="Answers by response-field key.")
    feedback = serializers.SerializerMethodField(help_text="Your therapist's review of your own answer; else null.")

    class Meta:
        model = HomeworkSubmission
        fields = [
            "id",
            "assignment",
            "client",
            "completed_at",
            "received_at",
            "responses",
            "shared_with_partner",
            "status",
            "revision",
            "amends",
            "feedback",
            "reviewed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"client": {"help_text": "Who sent it: you, or your partner."}}

    def get_feedback(self, submission) -> str | None:
        return selectors.submission_feedback_for(user=self.context["request"].user, submission=submission)


class ExportAssessmentSerializer(serializers.ModelSerializer):
    answers = serializers.ListField(child=serializers.IntegerField())
    subscales = serializers.DictField(child=serializers.IntegerField(), help_text="Each subscale's total, by key.")
    reliable_change = serializers.SerializerMethodField(
        help_text="Against your first one on the case: improved, deteriorated or none; null when not available."
    )

    class Meta:
        model = Assessment
        fields = [
            "id",
            "case",
            "instrument",
            "answers",
            "administered_at",
            "source",
            "total",
            "subscales",
            "band",
            "is_baseline",
            "change",
            "reliable_change",
        ]
        read_only_fields = fields

    def get_reliable_change(self, assessment) -> str | None:
        return assessment.reliable_change or None


class ExportSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = ["id", "case", "starts_at", "ends_at", "modality", "kind", "location", "status"]
        read_only_fields = fields


class ExportSessionRatingSerializer(serializers.ModelSerializer):
    total = serializers.IntegerField(read_only=True, help_text="The four items added up, 0 to 40.")

    class Meta:
        model = SessionRating
        fields = ["id", "session", "heard", "goals", "approach", "overall", "total", "created_at", "updated_at"]
        read_only_fields = fields


class ExportDeviceSerializer(serializers.ModelSerializer):
    """A device that takes your reminders (its push token is never shown)."""

    class Meta:
        model = Device
        fields = ["id", "platform", "registered_at"]
        read_only_fields = fields


class ExportPreferencesSerializer(serializers.ModelSerializer):
    quiet_hours_start = LocalTimeField(read_only=True, allow_null=True)
    quiet_hours_end = LocalTimeField(read_only=True, allow_null=True)
    opted_out = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = NotificationPreferences
        fields = ["time_zone", "quiet_hours_start", "quiet_hours_end", "opted_out", "updated_at"]
        read_only_fields = fields


class MyRecordSerializer(serializers.Serializer):
    """Everything the API lets you read about yourself, as the app shows it. What your partner keeps to themselves
    (homework answers they did not share, their session ratings, their sessions alone with the therapist) is not in
    it; your therapist's notes are not either (clients never read notes)."""

    exported_at = serializers.DateTimeField()
    fhir = serializers.URLField(
        allow_null=True,
        help_text="The same record as FHIR R4, a Patient/$everything Bundle (the same token reads it); also what "
        "`?format=fhir` or `Accept: application/fhir+json` here redirects to. Null without a client record.",
    )
    login = ExportLoginSerializer(help_text="Your app login.")
    client = ExportClientSerializer(allow_null=True)
    cases = ExportCaseSerializer(many=True, help_text="Your therapy: alone, or with your partner.")
    goals = ExportGoalSerializer(many=True)
    assignments = ExportAssignmentSerializer(many=True)
    submissions = ExportSubmissionSerializer(many=True)
    assessments = ExportAssessmentSerializer(many=True, help_text="Your own measures (never your partner's).")
    sessions = ExportSessionSerializer(many=True, help_text="The sessions you attend(ed) or were booked for.")
    session_ratings = ExportSessionRatingSerializer(many=True, help_text="Your own (never your partner's).")
    consents = ConsentSerializer(many=True)
    devices = ExportDeviceSerializer(many=True)
    notification_preferences = ExportPreferencesSerializer(
        allow_null=True, help_text="Null while you have not changed the defaults."
    )


# Each kind of record in the export, as the audit trail names it: the export is a read of every one it holds.
AUDITED = {
    "client": "client",
    "cases": "case",
    "goals": "goal",
    "assignments": "assignment",
    "submissions": "submission",
    "assessments": "assessment",
    "sessions": "session",
    "session_ratings": "session_rating",
    "consents": "consent",
}


@extend_schema_view(
    retrieve=extend_schema(
        summary="Download my own record (client app): JSON, or FHIR at /fhir/r4/",
        description=(
            "The right of access: everything the API lets you read about yourself, in one answer, built from the "
            "same reads as the app's own screens. Your partner's private material (homework answers they did not "
            "share, their session ratings, their sessions alone with the therapist) is not in it. Every record in "
            "it is recorded in the audit trail as read by you.\n\n"
            "As FHIR R4 (`?format=fhir`, or `Accept: application/fhir+json`): **303 See Other** to your "
            "`/fhir/r4/Patient/{id}/$everything`, which the same token reads; the FHIR API alone builds FHIR."
        ),
        responses={
            (200, "application/json"): MyRecordSerializer,
            303: OpenApiResponse(description="See Other: your record as FHIR R4 is at `Location`; no body."),
        },
        parameters=[
            OpenApiParameter(
                "Location",
                OpenApiTypes.URI,
                OpenApiParameter.HEADER,
                response=[303],
                description="Your `/fhir/r4/Patient/{id}/$everything`.",
            )
        ],
        tags=["me"],
    )
)
class MyRecordViewSet(ResourceViewSet):
    resource = "client"
    selector = access.client_record_of
    serializer_class = MyRecordSerializer
    renderer_classes = [JSONRenderer, FhirElsewhereRenderer]
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    etag = False
    problems = {"retrieve": ["not_found"]}

    def retrieve(self, request):
        if request.accepted_renderer.format == FhirElsewhereRenderer.format:
            client = self.get_queryset().first()
            if client is None:
                raise NotFound("No client record is linked to your login, so there is no FHIR record to read.")
            return Response(status=status.HTTP_303_SEE_OTHER, headers={"Location": self._fhir_url(client)})
        record = access.own_record(user=request.user)
        data = {
            "exported_at": timezone.now(),
            "fhir": self._fhir_url(record.client) if record.client else None,
            "login": record.login,
            "client": record.client,
            **{name: getattr(record, name) for name in AUDITED if name != "client"},
            "devices": record.devices,
            "notification_preferences": record.notification_preferences,
        }
        reads = {AUDITED["client"]: [record.client.pk]} if record.client else {}
        reads |= {AUDITED[name]: [row.pk for row in data[name]] for name in AUDITED if name != "client" and data[name]}
        context = {**self.get_serializer_context(), "progress": record.progress, "client": record.client}
        body = MyRecordSerializer(data, context=context).data
        return self.present(body, reads=reads, detail={"via": "export"})

    def _fhir_url(self, client) -> str:
        return self.request.build_absolute_uri(reverse("fhir-everything", kwargs={"pk": client.pk}))


# ---------------------------------------------------------------- erasure (erasure-requests/)


class ErasureEntrySerializer(serializers.Serializer):
    record_type = serializers.CharField(help_text="A kind of record, e.g. `client`, `progress_note`, `device`.")
    outcome = serializers.ChoiceField(choices=ErasureOutcome.choices)
    count = serializers.IntegerField(help_text="How many of the client's records of this kind (never their contents).")
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="What was replaced, where the outcome is `pseudonymised`; else empty."
    )
    kept_until = serializers.DateField(
        allow_null=True, help_text="Where kept: the end of the retention period; else null."
    )
    reason = serializers.CharField(help_text="Why: what the records are, and the rule that applies to them.")


class ErasureRequestSerializer(serializers.ModelSerializer):
    outcome = ErasureEntrySerializer(many=True, read_only=True, help_text="Per kind of record: what was done, why.")

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "client",
            "requested_by",
            "reason",
            "erased_at",
            "retained_until",
            "outcome",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields
        extra_kwargs = {"retained_until": {"help_text": "What was kept is kept until this day, then may go."}}


class ErasureRequestCreateSerializer(JSONTypes, serializers.Serializer):
    client = ScopedPrimaryKeyRelatedField(
        selectors.clients_erasable_by,
        help_text="The client's id (their clinician has it; so does the client's own export, me/export/).",
    )
    reason = serializers.CharField(
        max_length=500,
        help_text="Why, in words that name no one (e.g. 'the client's written request of 12 November').",
    )


@extend_schema_view(
    list=extend_schema(summary="List erasures (practice admin)", tags=["practice"]),
    retrieve=extend_schema(summary="Get an erasure and what it did (practice admin)", tags=["practice"]),
    create=extend_schema(
        summary="Erase a client who has left care (practice admin)",
        description=(
            "The right to erasure. What exists only to reach the client or run their app is erased (devices, "
            "reminders, notification preferences, invitations, tokens, stored answers, bulk export files), as are "
            "draft notes about them alone; who they are is pseudonymised (names, pronouns, date of birth, contact, "
            "the login's e-mail and name, in the rows and their row history; the login is deactivated); the record "
            "of care a practice must keep (cases, goals, signed notes, homework answers, measures, sessions, "
            "ratings, consents) and the audit trail are kept until `retained_until` (RECORD_RETENTION_YEARS after "
            "the last case closed). The answer says, per kind of record, what was done, how many, and why: counts, "
            "never contents. Refused (409) while a case of the client's, alone or as a couple, is open or paused, "
            "and for a client erased before: an erasure happens once. Erasing one partner changes nothing of the "
            "other's."
        ),
        tags=["practice"],
    ),
)
class ErasureRequestViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    resource = "erasure_request"
    object_keyword = "erasure"
    audited = False  # practice administration, counts only; each erasure is audited by its service
    selector = selectors.erasure_requests_visible_to
    serializer_class = ErasureRequestSerializer
    request_serializers = {"create": ErasureRequestCreateSerializer}
    create_service = erasure_services.erasure_request_create
    created_as_answered = True
    idempotency_required = True
    read_scopes = write_scopes = ["admin"]
    allowed_roles = [Role.ADMIN]
    http_method_names = ["get", "post", "head", "options"]
    problems = {"create": ["client_has_open_case", "client_already_erased"]}
