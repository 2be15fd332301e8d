"""The right of access and the right to erasure (issue 17): a client downloads their own record (`me/export/`), and
the practice admin erases a client who has left care (`erasure-requests/`); a clinician releases a case's record to a
named party with every client's consent (`releases/`)."""

import functools

from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from clinical import access, selectors
from clinical.models import (
    CLIENT_DETAILS,
    Assessment,
    Case,
    Client,
    Consent,
    Device,
    ErasureOutcome,
    ErasureRequest,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    NoteAddendum,
    NotificationPreferences,
    ProgressNote,
    RecordRelease,
    Role,
    Session,
    SessionRating,
    TreatmentGoal,
    User,
)
from clinical.releases import WITHHELD, ReleaseContents
from clinical.services import consents as consent_services
from clinical.services import erasure as erasure_services

from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .renderers import FhirElsewhereRenderer, JSONRenderer, canonical_json
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import ConsentDocumentBriefSerializer, ConsentSerializer, LocalTimeField, ResponsesField
from .viewsets import CLINICIANS, CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin

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


# ---------------------------------------------------------------- releases of a case's record (releases/)


class ReleaseCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = [
            "id",
            "subject_type",
            "status",
            "opened_on",
            "closed_on",
            "closing_reason",
            "presenting_concerns",
            "confidentiality_policy",
        ]
        read_only_fields = fields


class ReleaseGASRatingSerializer(serializers.ModelSerializer):
    class Meta:
        model = GoalAttainmentRating
        fields = ["rated_on", "score"]
        read_only_fields = fields


class ReleaseGoalSerializer(serializers.ModelSerializer):
    gas_ratings = ReleaseGASRatingSerializer(many=True, read_only=True)

    class Meta:
        model = TreatmentGoal
        fields = [
            "id",
            "domain",
            "title",
            "description",
            "priority",
            "target_date",
            "lifecycle_status",
            "achievement_status",
            "gas_ratings",
        ]
        read_only_fields = fields


class ReleaseSessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = ["id", "starts_at", "ends_at", "modality", "kind", "partner", "status"]
        read_only_fields = fields
        extra_kwargs = {"partner": {"help_text": "An individual session: the partner seen alone; else null."}}


class ReleaseAddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = NoteAddendum
        fields = ["created_at", "text"]
        read_only_fields = fields


class ReleaseNoteSerializer(serializers.ModelSerializer):
    sections = serializers.DictField(child=serializers.CharField(), read_only=True, help_text="By the format's keys.")
    addenda = ReleaseAddendumSerializer(many=True, read_only=True)

    class Meta:
        model = ProgressNote
        fields = [
            "id",
            "session",
            "partner",
            "session_date",
            "format",
            "sections",
            "goals_addressed",
            "signed_at",
            "cosigned_at",
            "addenda",
        ]
        read_only_fields = fields
        extra_kwargs = {"partner": {"help_text": "A note of an individual session: the partner seen; else null."}}


class ReleaseAssignmentSerializer(serializers.ModelSerializer):
    exercise_version = ExportExerciseSerializer(read_only=True)

    class Meta:
        model = HomeworkAssignment
        fields = [
            "id",
            "exercise_version",
            "assignees",
            "mode",
            "instructions",
            "start_date",
            "due_date",
            "frequency",
            "target_count",
            "status",
        ]
        read_only_fields = fields


class ReleaseSubmissionSerializer(serializers.ModelSerializer):
    responses = ResponsesField(read_only=True, help_text="Answers by response-field key.")

    class Meta:
        model = HomeworkSubmission
        fields = ["id", "assignment", "client", "completed_at", "received_at", "responses", "revision", "amends"]
        read_only_fields = fields


class ReleaseAssessmentSerializer(serializers.ModelSerializer):
    subscales = serializers.DictField(child=serializers.IntegerField(), help_text="Each subscale's total, by key.")

    class Meta:
        model = Assessment
        fields = ["id", "client", "instrument", "administered_at", "total", "subscales", "band"]
        read_only_fields = fields


class ReleaseConsentSerializer(serializers.ModelSerializer):
    document = ConsentDocumentBriefSerializer(read_only=True)

    class Meta:
        model = Consent
        fields = ["id", "client", "document", "method", "released_to", "release_purpose", "given_at"]
        read_only_fields = fields


class ReleaseHeaderSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The release's id (`GET /releases/{id}/`).")
    case = serializers.UUIDField()
    released_to = serializers.CharField()
    purpose = serializers.CharField()
    policy = serializers.CharField(help_text="The couple case's confidentiality policy when released; empty else.")
    released_at = serializers.DateTimeField()
    released_by = serializers.CharField(help_text="The clinician who released it, by name.")
    withheld = serializers.CharField(help_text="What the policy keeps out of a release, and why (never how much).")


class ReleaseDocumentSerializer(serializers.Serializer):
    """A case's record as released: the same bytes whenever it is read again (`digest` is their SHA-256)."""

    release = ReleaseHeaderSerializer()
    consents = ReleaseConsentSerializer(many=True, help_text="Each client's release consent it relies on.")
    case = ReleaseCaseSerializer()
    clients = ExportClientSerializer(many=True)
    goals = ReleaseGoalSerializer(many=True)
    sessions = ReleaseSessionSerializer(many=True)
    notes = ReleaseNoteSerializer(many=True, help_text="Signed notes, each with its addenda.")
    assignments = ReleaseAssignmentSerializer(many=True)
    submissions = ReleaseSubmissionSerializer(many=True)
    assessments = ReleaseAssessmentSerializer(many=True)


def render_release(release: RecordRelease, contents: ReleaseContents) -> str:
    """The document a release sends, as its canonical text: its header, the consents it relies on, and the record
    (clinical/releases.py)."""
    header = {
        "id": release.pk,
        "case": release.case_id,
        "released_to": release.released_to,
        "purpose": release.purpose,
        "policy": release.policy,
        "released_at": release.created_at,
        "released_by": release.released_by.display_name,
        "withheld": WITHHELD[release.policy],
    }
    record = {name: getattr(contents, name) for name in ReleaseDocumentSerializer().fields if name != "release"}
    return canonical_json(ReleaseDocumentSerializer({"release": header, **record}).data)


class RecordReleaseSerializer(serializers.ModelSerializer):
    consents = serializers.PrimaryKeyRelatedField(
        many=True, read_only=True, help_text="Each client's release consent it relied on."
    )
    contents = serializers.DictField(
        child=serializers.ListField(child=serializers.UUIDField()),
        read_only=True,
        help_text="The ids of every record released, by kind (`case`, `client`, `goal`, `session`, `note`, "
        "`assignment`, `submission`, `assessment`, `consent`).",
    )

    class Meta:
        model = RecordRelease
        fields = [
            "id",
            "case",
            "released_to",
            "purpose",
            "policy",
            "consents",
            "released_by",
            "digest",
            "contents",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "digest": {"help_text": "SHA-256 (hex) of the document's bytes (`GET /releases/{id}/document/`)."},
            "policy": {"help_text": "The couple case's confidentiality policy when released; empty for an individual."},
        }


class RecordReleaseCreateSerializer(JSONTypes, serializers.Serializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to, help_text="The case whose record is released.")
    released_to = serializers.CharField(
        max_length=200, help_text="Who receives it: as every client's release consent names them."
    )
    purpose = serializers.CharField(max_length=500, help_text="What for: as every client's release consent says.")


class ReleaseFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")

    class Meta:
        model = RecordRelease
        fields = ["case"]


@extend_schema_view(
    list=extend_schema(summary="List releases of records (clinician, supervisor)", tags=["consents"]),
    retrieve=extend_schema(
        summary="Get a release: to whom, why, on whose consent, and what it held", tags=["consents"]
    ),
    create=extend_schema(
        summary="Release a case's record to a named party (clinician)",
        description=(
            "Releases the case's record to `released_to` for `purpose`: every client of the case (both partners of a "
            "couple) must have a release-of-records consent in force naming that party and that purpose (compared "
            "without regard to case or spacing; the release names them as the first consent does), or the answer is "
            "409 `release_consent_missing` naming who has not, and nothing is written. What the release holds follows"
            " the couple's confidentiality policy (see `withheld` in the document; docs/security.md has the table). "
            "The document is kept exactly as released (`GET /releases/{id}/document/`, the same bytes whatever "
            "happens to the records later; `digest` is their SHA-256), with the ids of every record in it; the "
            "release and each record in it are audited."
        ),
        tags=["consents"],
    ),
    document=extend_schema(
        summary="Read a release's document again, byte for byte as released",
        responses=ReleaseDocumentSerializer,
        tags=["consents"],
    ),
)
class RecordReleaseViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    resource = "record_release"
    object_keyword = "release"
    selector = selectors.releases_visible_to
    serializer_class = RecordReleaseSerializer
    filterset_class = ReleaseFilter
    request_serializers = {"create": RecordReleaseCreateSerializer}
    create_service = functools.partial(consent_services.release_create, render=render_release)
    idempotency_required = True
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "head", "options"]
    etag = False
    problems = {"create": ["not_case_clinician", "release_consent_missing"]}

    def shape_queryset(self, queryset):
        return queryset.prefetch_related("consents")

    @action(detail=True, methods=["get"])
    def document(self, request, pk=None):
        """The document as released (the bytes whose SHA-256 is `digest`). Reading it again is a read of every record
        it holds, audited as such."""
        release = self.get_object()
        reads = {kind: ids for kind, ids in release.contents.items() if ids}
        self.audit_reads(reads, detail={"via": "release", "release": str(release.pk)})
        return HttpResponse(release.document.encode(), content_type="application/json")
