"""The right of access (issue 17): everything the API lets a client read about themselves, in one piece, for their
export (me/export/). It is gathered from the same selectors as the app's own reads (`<records>_visible_to`), so what
a partner keeps to themselves (homework answers they did not share, their session ratings, their individual
sessions) stays out by construction, as it does everywhere else."""

from dataclasses import dataclass

from django.db.models import QuerySet

from clinical import selectors
from clinical.models import (
    Assessment,
    Case,
    Client,
    Consent,
    Device,
    HomeworkAssignment,
    HomeworkSubmission,
    NotificationPreferences,
    Role,
    Session,
    SessionRating,
    TreatmentGoal,
    User,
)


def client_record_of(*, user: User) -> QuerySet[Client]:
    """The client record a client's login belongs to (at most one); none for anyone else. The record the practice
    keeps of them (names, date of birth, contact), which the right of access gives them, as FHIR's Patient does."""
    if user.role != Role.CLIENT:
        return Client.objects.none()
    return Client.objects.filter(user=user)


@dataclass(frozen=True)
class OwnRecord:
    login: User
    client: Client | None
    cases: list[Case]
    goals: list[TreatmentGoal]
    assignments: list[HomeworkAssignment]
    progress: dict  # {assignment id: adherence.AssignmentProgress}
    submissions: list[HomeworkSubmission]
    assessments: list[Assessment]
    sessions: list[Session]
    session_ratings: list[SessionRating]
    consents: list[Consent]
    devices: list[Device]
    notification_preferences: NotificationPreferences | None


def own_record(*, user: User) -> OwnRecord:
    """A client's record as they may read it, each kind in the order it happened. A flat number of queries however
    much there is: a year of daily homework is one query for the submissions, one for the assignments' progress."""
    assignments = list(
        selectors.assignments_visible_to(user=user)
        .select_related("exercise_version")
        .prefetch_related("assignees")
        .order_by("created_at", "id")
    )
    return OwnRecord(
        login=user,
        client=client_record_of(user=user).first(),
        cases=list(selectors.cases_visible_to(user=user).order_by("opened_on", "created_at", "id")),
        goals=list(selectors.goals_visible_to(user=user).order_by("created_at", "id")),
        assignments=assignments,
        progress=selectors.assignment_progress(assignments=assignments),
        submissions=list(
            selectors.submissions_visible_to(user=user).select_related("client").order_by("received_at", "id")
        ),
        assessments=list(selectors.assessments_visible_to(user=user).order_by("administered_at", "id")),
        sessions=list(selectors.sessions_visible_to(user=user).order_by("starts_at", "id")),
        session_ratings=list(selectors.session_ratings_visible_to(user=user).order_by("created_at", "id")),
        consents=list(selectors.consents_visible_to(user=user).select_related("document").order_by("given_at", "id")),
        devices=list(selectors.devices_visible_to(user=user).order_by("registered_at", "id")),
        notification_preferences=selectors.notification_preferences_visible_to(user=user).first(),
    )
