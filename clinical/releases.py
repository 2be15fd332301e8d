"""What a release of a case's record holds (issue 17), by the case's confidentiality policy.

A couple's record is two people's. What one partner keeps to themselves never goes out with the couple's record, and
what each partner said or did alone goes out only where the couple agreed that nothing is kept between them:

| material                                                   | no_secrets | limited_secrets | separate_records |
|------------------------------------------------------------|------------|-----------------|------------------|
| the case, its goals (and GAS ratings), joint sessions and  | yes        | yes             | yes              |
| their signed notes, homework given to both partners        |            |                 |                  |
| homework given to one partner                              | yes        | yes             | no               |
| answers a partner shared with the other                    | yes        | yes             | no               |
| individual sessions and their notes, each partner's        | yes        | no              | no               |
| measures                                                   |            |                 |                  |
| answers a partner kept private, session ratings, the       | no         | no              | no               |
| partner-violence screen and the conjoint hold              |            |                 |                  |

A release of an individual case holds that client's whole record (nothing in it is anyone else's), except their
session ratings and screens, which are never released with a record. Draft notes are not part of the record until
signed; notes entered in error are withdrawn from it.
"""

import dataclasses
from dataclasses import dataclass

from django.db.models import Count, Prefetch

from clinical.models import (
    Assessment,
    Case,
    Client,
    ConfidentialityPolicy,
    Consent,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    NoteAddendum,
    NoteStatus,
    ProgressNote,
    Session,
    SubjectType,
    TreatmentGoal,
)

# The kinds of record a release holds, as the audit trail names them.
KINDS = {
    "clients": "client",
    "goals": "goal",
    "sessions": "session",
    "notes": "note",
    "assignments": "assignment",
    "submissions": "submission",
    "assessments": "assessment",
    "consents": "consent",
}


# What each policy keeps out of a release, as the release's document says it (never how much).
WITHHELD = {
    "": "Nothing of this client's record is withheld, except session ratings and screens, never released.",
    ConfidentialityPolicy.NO_SECRETS: (
        "Under no_secrets the release holds what each partner said or did alone (individual sessions and their "
        "notes, each partner's measures); answers a partner kept private, session ratings and screens stay out."
    ),
    ConfidentialityPolicy.LIMITED_SECRETS: (
        "Under limited_secrets what each partner said or did alone stays out (individual sessions and their notes, "
        "each partner's measures), as do answers a partner kept private, session ratings and screens."
    ),
    ConfidentialityPolicy.SEPARATE_RECORDS: (
        "Under separate_records each partner's material is theirs alone and stays out (individual sessions and their "
        "notes, measures, every homework answer, homework given to one partner), as do session ratings and screens."
    ),
}


@dataclass(frozen=True)
class ReleaseContents:
    case: Case
    policy: str
    clients: list[Client]
    goals: list[TreatmentGoal]
    sessions: list[Session]
    notes: list[ProgressNote]
    assignments: list[HomeworkAssignment]
    submissions: list[HomeworkSubmission]
    assessments: list[Assessment]
    consents: list[Consent] = dataclasses.field(default_factory=list)  # the release consents it relies on

    def ids(self) -> dict[str, list[str]]:
        """{kind of record: ids}, the case first: what the release holds, ids only."""
        return {"case": [str(self.case.pk)]} | {
            KINDS[name]: [str(row.pk) for row in getattr(self, name)] for name in KINDS
        }


def case_clients(case: Case) -> list[Client]:
    """The clients whose record a case is: its client, or the couple's partners in order."""
    if case.subject_type == SubjectType.INDIVIDUAL:
        return [case.client]
    return [m.client for m in case.couple.members.select_related("client").order_by("position")]


def release_contents(case: Case) -> ReleaseContents:
    """The case's record as a release of it holds it (the table above), each kind in the order it happened."""
    clients = case_clients(case)
    couple = case.subject_type == SubjectType.COUPLE
    policy = case.confidentiality_policy if couple else ""
    each_alone = not couple or policy == ConfidentialityPolicy.NO_SECRETS  # what a partner said or did alone
    shared = not couple or policy != ConfidentialityPolicy.SEPARATE_RECORDS  # what a partner gave the other

    sessions = Session.objects.filter(case=case).order_by("starts_at", "id")
    notes = (
        ProgressNote.objects.filter(case=case, status=NoteStatus.SIGNED)
        .prefetch_related(Prefetch("addenda", NoteAddendum.objects.order_by("created_at", "id")), "goals_addressed")
        .order_by("session_date", "signed_at", "id")
    )
    assignments = (
        HomeworkAssignment.objects.filter(case=case)
        .select_related("exercise_version")
        .prefetch_related("assignees")
        .annotate(assigned_to=Count("assignees"))
        .order_by("created_at", "id")
    )
    submissions = HomeworkSubmission.objects.filter(case=case).order_by("received_at", "id")
    assessments = Assessment.objects.filter(case=case).order_by("administered_at", "id")
    if not each_alone:
        sessions = sessions.filter(partner__isnull=True)
        notes = notes.filter(partner__isnull=True)
        assessments = assessments.none()
    if couple:
        submissions = submissions.filter(shared_with_partner=True) if shared else submissions.none()
        if not shared:
            assignments = assignments.filter(assigned_to__gte=len(clients))
    return ReleaseContents(
        case=case,
        policy=policy,
        clients=clients,
        goals=list(
            TreatmentGoal.objects.filter(case=case)
            .prefetch_related(Prefetch("gas_ratings", GoalAttainmentRating.objects.order_by("rated_on", "id")))
            .order_by("created_at", "id")
        ),
        sessions=list(sessions),
        notes=list(notes),
        assignments=list(assignments),
        submissions=list(submissions),  # every revision: a corrected answer keeps the one it corrects
        assessments=list(assessments),
    )
