"""Which records each FHIR resource type is made of, who may read them, and how a search narrows them.

A type has one or more sources (QuestionnaireResponse: assessments and homework completions). Each source starts
from the one selector of its records (clinical/selectors.py), so the FHIR API reaches exactly what the REST API
reaches for the same caller: a client never reads a partner's private answers, ratings or individual sessions;
`patient=` only narrows that set. Each source renders a batch of records with a fixed number of queries.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F, Prefetch, Q, QuerySet

from clinical import selectors
from clinical.models import (
    Assessment,
    Case,
    Client,
    Couple,
    CoupleMember,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    InstrumentVersion,
    Role,
    Session,
    SubmissionStatus,
    TreatmentGoal,
    User,
)
from exercises.models import Exercise, ExerciseVersion
from exercises.selectors import exercises_visible_to

from . import resources as r


@dataclass(frozen=True)
class Source:
    audit_type: str  # the audit trail's name for these records ("" for reference data: not audited)
    # What the caller may read: the selector's records for a user; None is the whole practice (the bulk export,
    # which its scope and role gate: fhir_r4/exports.py).
    visible: Callable[[User | None], QuerySet]
    # The records about one client (a Patient's id), or None where the type has no patient.
    about: Callable[[QuerySet, object], QuerySet] | None
    render: Callable[[list, str, User], list[dict]]  # (records, FHIR base, caller) → resources, in order
    updated: str = "updated_at"


def _of_case(prefix: str) -> Callable[[QuerySet, object], QuerySet]:
    """Records whose case (`prefix` leads to it) is about the client: theirs alone, or their couple's."""

    def about(queryset, client_id):
        cases = Q(**{f"{prefix}client": client_id}) | Q(**{f"{prefix}couple__members__client": client_id})
        return queryset.filter(cases).distinct()

    return about


# ---------------------------------------------------------------- people


def _scoped(selector, model):
    """The selector's records for a user, every record of the practice for None."""
    return lambda user: model.objects.all() if user is None else selector(user=user)


def _patients_visible(user):
    if user is None:
        return Client.objects.all()
    if user.role == Role.CLIENT:
        return Client.objects.filter(user=user)
    return selectors.clients_visible_to(user=user)


def _groups_visible(user):
    if user is None:
        return Couple.objects.all()
    if user.role == Role.CLIENT:
        return Couple.objects.filter(members__client__user=user)
    return selectors.couples_visible_to(user=user)


def _render_groups(couples, base, user):
    return [r.group(couple, list(couple.members.all())) for couple in couples]


PATIENT = Source(
    "client",
    _patients_visible,
    lambda qs, pk: qs.filter(pk=pk),
    lambda clients, base, user: [r.patient(c) for c in clients],
)
GROUP = Source(
    "couple",
    lambda user: _groups_visible(user).prefetch_related(Prefetch("members", CoupleMember.objects.all())),
    lambda qs, pk: qs.filter(members__client=pk),
    _render_groups,
)

# ---------------------------------------------------------------- care


def _cases_visible(user):
    return _scoped(selectors.cases_visible_to, Case)(user).prefetch_related(
        Prefetch("couple__members", CoupleMember.objects.order_by("position"))
    )


def _partners(case) -> list:
    return [m.client_id for m in case.couple.members.all()] if case.couple_id else [case.client_id]


def _render_episodes(cases, base, user):
    return [r.episode_of_care(case, _partners(case)) for case in cases]


def _render_care_plans(cases, base, user):
    ids = [case.pk for case in cases]
    goals = defaultdict(list)
    for case_id, pk in (
        _scoped(selectors.goals_visible_to, TreatmentGoal)(user)
        .filter(case__in=ids)
        .order_by("created_at", "id")
        .values_list("case_id", "id")
    ):
        goals[case_id].append(pk)
    tasks = defaultdict(list)
    for case_id, pk in (
        _scoped(selectors.assignments_visible_to, HomeworkAssignment)(user)
        .filter(case__in=ids)
        .order_by("created_at", "id")
        .values_list("case_id", "id")
    ):
        tasks[case_id].append(pk)
    return [r.care_plan(case, goals[case.pk], tasks[case.pk]) for case in cases]


EPISODE = Source("case", _cases_visible, _of_case(""), _render_episodes)
CARE_PLAN = Source("case", _cases_visible, _of_case(""), _render_care_plans)
GOAL = Source(
    "goal",
    lambda user: _scoped(selectors.goals_visible_to, TreatmentGoal)(user).select_related("case"),
    _of_case("case__"),
    lambda goals, base, user: [r.goal(g, g.case) for g in goals],
)


def _render_tasks(assignments, base, user):
    through = HomeworkAssignment.assignees.through.objects.filter(homeworkassignment__in=[a.pk for a in assignments])
    assignees = defaultdict(list)
    for assignment_id, client_id in through.order_by("client_id").values_list("homeworkassignment_id", "client_id"):
        assignees[assignment_id].append(client_id)
    return [r.task(a, a.case, assignees[a.pk]) for a in assignments]


TASK = Source(
    "assignment",
    lambda user: _scoped(selectors.assignments_visible_to, HomeworkAssignment)(user).select_related(
        "case", "exercise_version__exercise"
    ),
    lambda qs, pk: qs.filter(assignees=pk),
    _render_tasks,
)


def _sessions_about(queryset, client_id):
    """The sessions of the client's cases, but an individual session only if it is theirs."""
    return _of_case("case__")(queryset, client_id).filter(Q(partner__isnull=True) | Q(partner=client_id))


ENCOUNTER = Source(
    "session",
    lambda user: _scoped(selectors.sessions_visible_to, Session)(user).select_related("case"),
    _sessions_about,
    lambda sessions, base, user: [r.encounter(s, s.case) for s in sessions],
)

# ---------------------------------------------------------------- measures and homework answers


def _assessments_visible(user):
    return _scoped(selectors.assessments_visible_to, Assessment)(user).select_related("instrument_version")


def _submissions_visible(user):
    return (
        _scoped(selectors.submissions_visible_to, HomeworkSubmission)(user)
        .filter(status=SubmissionStatus.CURRENT)
        .annotate(exercise_version_id=F("assignment__exercise_version_id"))
    )


def _render_submissions(rows, base, user):
    """Each exercise version's form read once for the batch (not joined to every completion)."""
    versions = ExerciseVersion.objects.only("id", "response_fields").in_bulk({row.exercise_version_id for row in rows})
    return [r.submission_response(row, versions[row.exercise_version_id], base) for row in rows]


ASSESSMENT_RESPONSE = Source(
    "assessment",
    _assessments_visible,
    lambda qs, pk: qs.filter(client=pk),
    lambda rows, base, user: [r.assessment_response(a, base) for a in rows],
)
SUBMISSION_RESPONSE = Source(
    "submission",
    _submissions_visible,
    lambda qs, pk: qs.filter(client=pk),
    _render_submissions,
)
ASSESSMENT_OBSERVATION = Source(
    "assessment",
    _assessments_visible,
    lambda qs, pk: qs.filter(client=pk),
    lambda rows, base, user: [r.assessment_observation(a) for a in rows],
)
GAS_OBSERVATION = Source(
    "gas_rating",
    lambda user: _scoped(selectors.gas_ratings_visible_to, GoalAttainmentRating)(user).select_related("goal__case"),
    _of_case("goal__case__"),
    lambda rows, base, user: [r.gas_observation(g, g.goal.case) for g in rows],
    updated="created_at",
)


MEASURE_QUESTIONNAIRE = Source(
    "",
    lambda user: InstrumentVersion.objects.select_related("instrument"),
    None,
    lambda rows, base, user: [r.measure_questionnaire(v, base, current=v.instrument.current_id == v.pk) for v in rows],
    updated="created_at",
)
EXERCISE_QUESTIONNAIRE = Source(
    "",
    lambda user: ExerciseVersion.objects.filter(
        exercise__in=_scoped(exercises_visible_to, Exercise)(user)
    ).select_related("exercise"),
    None,
    lambda rows, base, user: [r.exercise_questionnaire(v, base, current=v.exercise.current_id == v.pk) for v in rows],
    updated="created_at",
)

# The resource types served, each with its sources in the order a search lists them.
TYPES: dict[str, list[Source]] = {
    "Patient": [PATIENT],
    "Group": [GROUP],
    "EpisodeOfCare": [EPISODE],
    "CarePlan": [CARE_PLAN],
    "Goal": [GOAL],
    "Task": [TASK],
    "Encounter": [ENCOUNTER],
    "Questionnaire": [MEASURE_QUESTIONNAIRE, EXERCISE_QUESTIONNAIRE],
    "QuestionnaireResponse": [ASSESSMENT_RESPONSE, SUBMISSION_RESPONSE],
    "Observation": [ASSESSMENT_OBSERVATION, GAS_OBSERVATION],
}
# The search parameter naming a client (a Patient's id), per type: FHIR's own names (a Group's is `member`; a
# Patient is searched by `_id`, which every type takes).
PATIENT_PARAMETER = {
    name: "member" if name == "Group" else "patient"
    for name, sources in TYPES.items()
    if name != "Patient" and sources[0].about is not None
}
