"""Homework: assignments (therapist side), submissions (client app and therapist review), me/assignments."""

import functools
from collections import defaultdict

from django.db import connection
from django.db.models import F, TextField
from django.db.models.functions import Cast
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound

from clinical import selectors
from clinical.models import (
    AssignmentFrequency,
    AssignmentMode,
    AssignmentStatus,
    Client,
    HomeworkAssignment,
    HomeworkSubmission,
    Role,
    SubmissionStatus,
)
from clinical.services import homework as services
from exercises.models import ExerciseVersion
from exercises.selectors import exercises_visible_to

from .filters import ScopedIdFilter
from .idempotency import idempotent
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import ExerciseVersionSerializer, LocalTimeField, ResponsesField
from .throttling import submission_throttles
from .viewsets import (
    CLINICIANS,
    CreateMixin,
    ListMixin,
    ResourceViewSet,
    RetrieveMixin,
    UpdateMixin,
    compiled_get,
    plain_date,
    plain_datetime,
    rows_of,
)

# ---------------------------------------------------------------- progress


class ProgressSerializer(serializers.Serializer):
    completed = serializers.IntegerField(help_text="Distinct days/weeks (or the one time) with a completion.")
    expected = serializers.IntegerField(help_text="Completions expected by today (at most the target).")
    adherence = serializers.FloatField(allow_null=True, help_text="completed / expected, 0 to 1; null before start.")


class AssigneeProgressSerializer(ProgressSerializer):
    client = serializers.UUIDField()


def _progress(serializer, assignment):
    return serializer.context["progress"][assignment.pk]


# The terms of homework, as both the therapist's and the client's answers show them.
TERMS = ["instructions", "start_date", "due_date", "frequency", "target_count", "status"]
PROGRESS = ["completed_count", "expected_to_date", "adherence", "overdue"]


class ProgressFieldsMixin(serializers.Serializer):
    """Derived from the submissions: computed for a whole page at once (api passes `progress` in context)."""

    completed_count = serializers.SerializerMethodField()
    expected_to_date = serializers.SerializerMethodField()
    adherence = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()

    def get_completed_count(self, assignment) -> int:
        return _progress(self, assignment).overall.completed

    def get_expected_to_date(self, assignment) -> int:
        return _progress(self, assignment).overall.expected

    def get_adherence(self, assignment) -> float | None:
        return _progress(self, assignment).overall.adherence

    def get_overdue(self, assignment) -> bool:
        return assignment.status == AssignmentStatus.ACTIVE and _progress(self, assignment).overdue


# ---------------------------------------------------------------- assignments


class ExerciseVersionBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    exercise = serializers.UUIDField(source="exercise_id")
    number = serializers.IntegerField()
    title = serializers.CharField()


class AssignmentSerializer(ProgressFieldsMixin, serializers.ModelSerializer):
    reminder_time = LocalTimeField(read_only=True, allow_null=True)
    exercise_version = ExerciseVersionBriefSerializer(read_only=True)
    by_assignee = serializers.SerializerMethodField()

    class Meta:
        model = HomeworkAssignment
        fields = [
            "id",
            "case",
            "exercise_version",
            "assignees",
            "mode",
            "goals",
            *TERMS,
            "reminder_time",
            "assigned_by",
            *PROGRESS,
            "by_assignee",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    @extend_schema_field(AssigneeProgressSerializer(many=True))
    def get_by_assignee(self, assignment):
        progress = _progress(self, assignment).by_assignee
        return [
            {"client": client, "completed": p.completed, "expected": p.expected, "adherence": p.adherence}
            for client, p in progress.items()
        ]


def reminder_time_field():
    return LocalTimeField(
        required=False,
        allow_null=True,
        help_text="The assignees' local time of day for their reminder (default 18:00, in each one's time zone).",
    )


class AssignmentCreateSerializer(JSONTypes, serializers.Serializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to)
    exercise = ScopedPrimaryKeyRelatedField(exercises_visible_to, help_text="Its current version is pinned.")
    assignees = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.clients_visible_to), min_length=1, max_length=2
    )
    mode = serializers.ChoiceField(choices=AssignmentMode.choices, default=AssignmentMode.EACH)
    goals = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.goals_visible_to), required=False, max_length=20
    )
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    start_date = serializers.DateField(required=False)
    due_date = serializers.DateField(required=False, allow_null=True)
    frequency = serializers.ChoiceField(
        choices=AssignmentFrequency.choices, required=False, help_text="Defaults to the exercise's suggestion."
    )
    target_count = serializers.IntegerField(
        min_value=1,
        max_value=366,
        required=False,
        help_text="Completions wanted per assignee (default: once 1, daily 7, weekly 4).",
    )
    reminder_time = reminder_time_field()


class AssignmentUpdateSerializer(JSONTypes, serializers.Serializer):
    instructions = serializers.CharField(allow_blank=True, max_length=5000)
    due_date = serializers.DateField(allow_null=True)
    target_count = serializers.IntegerField(min_value=1, max_value=366)
    reminder_time = reminder_time_field()
    goals = serializers.ListField(child=ScopedPrimaryKeyRelatedField(selectors.goals_visible_to), max_length=20)


class AssignmentFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    status = filters.ChoiceFilter(choices=AssignmentStatus.choices)
    assignee = filters.UUIDFilter(field_name="assignees")

    class Meta:
        model = HomeworkAssignment
        fields = ["case", "status", "assignee"]


@extend_schema_view(
    list=extend_schema(summary="List homework assignments", tags=["assignments"]),
    retrieve=extend_schema(summary="Get a homework assignment with its progress", tags=["assignments"]),
    create=extend_schema(summary="Assign an exercise on a case", tags=["assignments"]),
    partial_update=extend_schema(
        summary="Change instructions, due date, target, reminder time or goals", tags=["assignments"]
    ),
)
class AssignmentViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "assignment"
    selector = selectors.assignments_visible_to
    serializer_class = AssignmentSerializer
    filterset_class = AssignmentFilter
    request_serializers = {"create": AssignmentCreateSerializer, "partial_update": AssignmentUpdateSerializer}
    create_service = services.assignment_create
    update_service = services.assignment_update
    problems = {
        "create": ["not_case_clinician", "case_closed", "conjoint_hold"],
        "partial_update": ["not_case_clinician", "case_closed", "assignment_not_active"],
        "cancel": ["not_case_clinician", "assignment_not_active"],
    }
    if_match_actions = ("cancel",)

    def shape_queryset(self, queryset):
        return queryset.select_related("exercise_version").prefetch_related("assignees", "goals")

    def serializer_context_for(self, rows) -> dict:
        # Progress for the whole page in one query (ProgressFieldsMixin reads it).
        return {"progress": selectors.assignment_progress(assignments=rows)}

    @extend_schema(tags=["assignments"])
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel active homework; its submissions stay."""
        return self.act(services.assignment_cancel)


# ---------------------------------------------------------------- the client's app


class MyAssignmentSerializer(ProgressFieldsMixin, serializers.ModelSerializer):
    """Everything the app needs offline: the exercise text as given, the assignment, and my progress."""

    exercise_version = ExerciseVersionSerializer(read_only=True)
    my_progress = serializers.SerializerMethodField()

    class Meta:
        model = HomeworkAssignment
        fields = ["id", "exercise_version", "mode", *TERMS, *PROGRESS, "my_progress", "updated_at", "version"]
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_my_progress(self, assignment):
        user = self.context["request"].user
        mine = next(c.pk for c in assignment.assignees.all() if c.user_id == user.pk)
        p = _progress(self, assignment).by_assignee[mine]
        return {"completed": p.completed, "expected": p.expected, "adherence": p.adherence}


@extend_schema_view(
    list=extend_schema(
        summary="My homework (client app)",
        description="Active assignments with the full exercise text, so the app works offline. With "
        "`updated_since`, every assignment changed since then whatever its status, so that the app also "
        "learns about cancelled and completed ones.",
        tags=["me"],
    )
)
class MyAssignmentsViewSet(ListMixin, ResourceViewSet):
    """The client app's hottest read (every app start and sync), so it builds no model objects and runs no
    serializer: four queries read plain rows (a page of assignments, their exercise versions, their assignees,
    the periods with a completion) and `my_assignment` shapes each answer. MyAssignmentSerializer still
    describes the answer in the contract, and a test holds the two to the same output."""

    resource = "assignment"
    selector = selectors.assignments_visible_to
    serializer_class = MyAssignmentSerializer
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    etag = False

    def shape_queryset(self, queryset):
        if "updated_since" not in self.request.query_params:
            queryset = queryset.filter(status=AssignmentStatus.ACTIVE)
        return queryset.values("id", "exercise_version_id", "mode", *TERMS, "created_at", "updated_at", "version")

    def represent(self, rows, serializer_class=None) -> list:
        ids = [row["id"] for row in rows]
        # Each exercise version once, by a statement written once per process (api/viewsets.py rows_of).
        among = list({row["exercise_version_id"] for row in rows})
        fields = tuple(ExerciseVersionSerializer.Meta.fields)
        versions = {v["id"]: v for v in rows_of(ExerciseVersion, fields, where="id", among=among, order_by=("id",))}
        assignees, mine = defaultdict(list), {}
        links = []
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(_assignees_statement(), [ids])
                links = cursor.fetchall()
        for assignment_id, client_id, user_id in links:
            assignees[assignment_id].append(client_id)
            if user_id == self.request.user.pk:
                mine[assignment_id] = client_id
        progress = selectors.assignment_progress_of_rows(rows=rows, assignees=assignees)
        return [
            my_assignment(row, versions[row["exercise_version_id"]], progress[row["id"]], mine[row["id"]])
            for row in rows
        ]


@functools.cache
def _assignees_statement() -> str:
    """A page's assignees and their logins, written once per process from the models' names."""
    quote = connection.ops.quote_name
    link, client = quote(HomeworkAssignment.assignees.through._meta.db_table), quote(Client._meta.db_table)
    return (
        f"SELECT {link}.{quote('homeworkassignment_id')}, {link}.{quote('client_id')}, {client}.{quote('user_id')} "  # noqa: S608
        f"FROM {link} INNER JOIN {client} ON ({link}.{quote('client_id')} = {client}.{quote('id')}) "
        f"WHERE {link}.{quote('homeworkassignment_id')} = ANY(%s)"
    )


def my_assignment(row: dict, version: dict, progress, client_id) -> dict:
    """One item of me/assignments/ (MyAssignmentSerializer's fields, in its order) from plain rows."""
    mine = progress.by_assignee[client_id]
    return {
        "id": str(row["id"]),
        "exercise_version": {
            **version,
            "id": str(version["id"]),
            "created_at": plain_datetime(version["created_at"]),
        },
        "mode": row["mode"],
        **{name: plain_date(row[name]) if name.endswith("_date") else row[name] for name in TERMS},
        "completed_count": progress.overall.completed,
        "expected_to_date": progress.overall.expected,
        "adherence": progress.overall.adherence,
        "overdue": row["status"] == AssignmentStatus.ACTIVE and progress.overdue,
        "my_progress": {"completed": mine.completed, "expected": mine.expected, "adherence": mine.adherence},
        "updated_at": plain_datetime(row["updated_at"]),
        "version": row["version"],
    }


# ---------------------------------------------------------------- submissions


class SubmissionSerializer(serializers.ModelSerializer):
    responses = ResponsesField(read_only=True, help_text="Answers by response-field key.")
    feedback = serializers.SerializerMethodField(help_text="The clinician's review; shown to its author only.")

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
            "reviewed_by",
            "reviewed_at",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields

    def get_feedback(self, submission) -> str | None:
        return selectors.submission_feedback_for(user=self.context["request"].user, submission=submission)


class _AssigneeAssignmentField(ScopedPrimaryKeyRelatedField):
    """The caller's own homework; any other id answers 404, as if it did not exist.

    Found, locked and read with what the service checks (its case, its exercise version, its assignees) in one
    statement compiled once per process and role (`compiled_get`), inside the request's transaction: the service
    takes it as locked (`submission_create(locked=True)`) instead of reading it a second time to lock it."""

    def get_queryset(self):
        return selectors.assignments_to_submit_to(user=self.context["request"].user)

    def to_internal_value(self, data):
        try:
            pk = self.pk_field.to_internal_value(data)
        except serializers.ValidationError as exc:
            raise NotFound("No such homework among yours.") from exc
        found = compiled_get(type(self), selectors.assignments_to_submit_to, self.context["request"].user, pk)
        if found is None:
            raise NotFound("No such homework among yours.")
        return found


class SubmissionCreateSerializer(JSONTypes, serializers.Serializer):
    assignment = _AssigneeAssignmentField(selectors.assignments_visible_to)
    completed_at = serializers.DateTimeField(help_text="When you did it (your device's clock, with offset).")
    responses = ResponsesField(help_text="Answers by response-field key of the exercise version.")
    shared_with_partner = serializers.BooleanField(default=False)


class SubmissionAmendSerializer(JSONTypes, serializers.Serializer):
    responses = ResponsesField(help_text="All the answers again, corrected.")
    completed_at = serializers.DateTimeField(required=False)
    shared_with_partner = serializers.BooleanField(required=False)


class ReviewSerializer(JSONTypes, serializers.Serializer):
    feedback = serializers.CharField(max_length=5000)


class SubmissionFilter(filters.FilterSet):
    assignment = ScopedIdFilter(selectors.assignments_visible_to, field_name="assignment")
    status = filters.ChoiceFilter(choices=SubmissionStatus.choices)
    client = filters.UUIDFilter()

    class Meta:
        model = HomeworkSubmission
        fields = ["assignment", "status", "client"]


@extend_schema_view(
    list=extend_schema(summary="List homework submissions", tags=["submissions"]),
    retrieve=extend_schema(summary="Get a submission", tags=["submissions"]),
    create=extend_schema(summary="Submit a completed exercise (client app)", tags=["submissions"]),
)
class SubmissionViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    """Clients submit and correct; their clinician reviews. A client sees their own submissions and, in a
    couple case, their partner's where the partner chose to share them."""

    resource = "submission"
    selector = selectors.submissions_visible_to
    # A caseload's page case by case: its cost follows the caseload, not the practice. A larger caseload, and a
    # supervisor's team, walks the ids it sees from `submission_created_case` (with each one's case) first.
    page_ids = selectors.submission_page_ids
    walk_first_roles = (Role.CLINICIAN, Role.SUPERVISOR)
    serializer_class = SubmissionSerializer
    filterset_class = SubmissionFilter
    read_scopes = [["clinical:read"], ["homework"]]
    action_scopes = {"create": ["homework"], "amend": ["homework"], "review": ["clinical:write"]}
    allowed_roles = [*CLINICIANS, Role.CLIENT]
    action_roles = {"create": [Role.CLIENT], "amend": [Role.CLIENT], "review": CLINICIANS}
    http_method_names = ["get", "post", "head", "options"]
    request_serializers = {
        "create": SubmissionCreateSerializer,
        "amend": SubmissionAmendSerializer,
        "review": ReviewSerializer,
    }
    problems = {
        "create": ["not_found", "not_an_assignee", "assignment_cancelled", "case_closed"],  # not_found: not yours
        "amend": ["not_submitter", "submission_amended", "assignment_cancelled", "case_closed"],
        "review": ["not_case_clinician", "submission_amended", "already_reviewed"],
    }
    # The assignment comes locked from the request's validation (SubmissionCreateSerializer's `assignment`).
    create_service = functools.partial(services.submission_create, locked=True)
    idempotency_required = True
    # The caller's own new submission, with its client: nothing to fetch again.
    created_as_answered = True

    # Hot reads (the therapist's review queue, the client app's history): plain rows, shaped as
    # SubmissionSerializer. The review is read as stored and decrypted only where the caller may read it.
    plain_actions = ("list",)
    plain_computed = ("feedback",)
    plain_columns = {"submitter": F("client__user_id"), "feedback_token": Cast("feedback", TextField())}

    def shape_queryset(self, queryset):
        return queryset.select_related("client")

    def fill_plain(self, rows):
        user, decrypt = self.request.user, HomeworkSubmission._meta.get_field("feedback").from_db_value
        for row in rows:
            token = row["feedback_token"]
            shown = token is not None and selectors.feedback_shown(user=user, submitter=row["submitter"])
            row["feedback"] = decrypt(token, None, None) if shown else None

    def answer_created(self, submission):
        # The caller's own new submission, shaped as the list shapes it (no serializer built per request); the
        # submitter is the caller (the service's rule), so the review, none yet, is theirs to read.
        shown = selectors.feedback_shown(user=self.request.user, submitter=self.request.user.pk)
        feedback = submission.feedback if shown else None
        return self.respond_plain(submission, status.HTTP_201_CREATED, {"feedback": feedback})

    def get_throttles(self):
        # Sending is rate-limited per client and per address (api/throttling.py); reading and reviewing are not.
        return submission_throttles() if self.action in ("create", "amend") else []

    @extend_schema(tags=["submissions"], responses={201: SubmissionSerializer})
    @action(detail=True, methods=["post"])
    @idempotent(required=True)
    def amend(self, request, pk=None):
        """Correct your submission: a new revision; the old one is kept, marked amended."""
        return self.act(services.submission_amend, status_code=status.HTTP_201_CREATED)

    @extend_schema(tags=["submissions"])
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Review a submission with feedback for the client (once)."""
        return self.act(services.submission_review)
