"""Caseload and outcome reports (clinical.reports), on scenes built with factories and services, against numbers
worked out by hand. T is today; "T-9" is nine days ago. Every expected number is a literal with its arithmetic in
a comment; the SQL homework adherence is also held against the Python one (clinical.adherence, through
selectors.assignment_progress).
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical import selectors
from clinical.models import (
    AssignmentStatus,
    CaseStatus,
    GoalAchievement,
    GoalLifecycle,
    HomeworkAssignment,
    NoteStatus,
    Role,
    SafetyAlert,
    SubjectType,
)
from clinical.reports import caseload_report, outcomes_report
from clinical.services import homework as homework_services
from clinical.services import notes as note_services
from clinical.services.alerts import alert_acknowledge
from clinical.services.goals import gas_rating_record
from clinical.services.measures import assessment_record
from tests.factories import (
    GAS_LEVELS,
    CaseFactory,
    ClientFactory,
    CoupleFactory,
    GASRatingFactory,
    GoalFactory,
    NoteFactory,
    SupervisionFactory,
    UserFactory,
)
from tests.factories.scenes import answers_for, link_login

EXERCISE = "i-statement-practice"  # audience `either`: may go to one client, to each partner or jointly
RESPONSES = {
    "usual_sentence": "You never listen.",
    "i_statement": "I feel alone when my news goes unanswered, and I would like a minute of your attention.",
    "said_it": True,
    "felt_natural": 5,
}
SECTIONS = {"subjective": "tense week", "objective": "engaged", "assessment": "steady", "plan": "check-in"}
INSTRUMENT_CODES = ["phq9", "gad7", "csi4"]
EMPTY_INSTRUMENT = {
    "n_clients": 0,
    "mean_change": None,
    "reliably_improved_rate": None,
    "reliably_deteriorated_rate": None,
    "recovered_rate": None,
    "mean_change_adherence_at_least_0_7": None,
    "mean_change_adherence_below_0_7": None,
}


# ---------------------------------------------------------------- scene helpers


def T(days: int = 0):
    """Today plus `days` (negative: in the past)."""
    return timezone.localdate() + timedelta(days=days)


def ago(days: int):
    return timezone.now() - timedelta(days=days)


def staff(name: str, role=Role.CLINICIAN):
    return UserFactory(role=role, display_name=name)


def client_of(clinician):
    """A client with an app login (needed to submit homework)."""
    client = ClientFactory(primary_clinician=clinician)
    link_login(client)
    return client


def individual_case(clinician, **fields):
    client = client_of(clinician)
    return CaseFactory(clinician=clinician, client=client, **fields), client


def couple_case(clinician, **fields):
    a, b = client_of(clinician), client_of(clinician)
    couple = CoupleFactory(partners=[a, b])
    return CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=couple, **fields), a, b


def assess(clinician, case, client, code, score, days_ago, *, item9=0):
    return assessment_record(
        actor=clinician,
        instrument=code,
        answers=answers_for(code, score, item9=item9),
        administered_at=ago(days_ago),
        client=client,
        case=case,
    )


def assign(catalog, case, assignees, *, frequency, start, target, due=None, mode="each"):
    return homework_services.assignment_create(
        actor=case.clinician,
        case=case,
        exercise=catalog[EXERCISE],
        assignees=assignees,
        mode=mode,
        start_date=start,
        due_date=due,
        frequency=frequency,
        target_count=target,
    )


def submit(assignment, client, days_ago):
    return homework_services.submission_create(
        actor=client.user, assignment=assignment, completed_at=ago(days_ago), responses=RESPONSES
    )


def rate(goal, score, days_ago):
    return gas_rating_record(actor=goal.case.clinician, goal=goal, score=score, rated_on=T(-days_ago))


def rows_by_clinician(rows) -> dict:
    return {row["clinician"]: row for row in rows}


def caseload_row(user, **values) -> dict:
    row = {
        "clinician": user.pk,
        "clinician_name": user.display_name,
        "open_cases": 0,
        "paused_cases": 0,
        "goals_proposed": 0,
        "goals_active": 0,
        "goals_on_hold": 0,
        "goals_completed": 0,
        "goals_cancelled": 0,
        "active_homework": 0,
        "homework_adherence": None,
        "overdue_homework": 0,
        "notes_unsigned_over_72h": 0,
        "notes_awaiting_cosign": 0,
        "unacknowledged_alerts": 0,
        "conjoint_holds": 0,
        "sessions_attended": 0,
        "sessions_cancelled": 0,
        "sessions_late_cancelled": 0,
        "sessions_no_show": 0,
        "sessions_missing_note": 0,
    }
    assert set(values) <= set(row), set(values) - set(row)
    row.update(values)
    return row


def instruments_block(**per_instrument) -> dict:
    block = {code: dict(EMPTY_INSTRUMENT) for code in INSTRUMENT_CODES}
    for code, values in per_instrument.items():
        assert set(values) <= set(EMPTY_INSTRUMENT), set(values) - set(EMPTY_INSTRUMENT)
        block[code].update(values)
    return block


def outcome_row(user, **values) -> dict:
    row = {
        "clinician": user.pk if user else None,
        "clinician_name": user.display_name if user else "All",
        "cases": 0,
        "goals_achieved_rate": None,
        "mean_gas_t": None,
        "homework_adherence": None,
        **{f"sessions_{s}": 0 for s in ("attended", "cancelled", "late_cancelled", "no_show")},
        "instruments": instruments_block(),
    }
    assert set(values) <= set(row), set(values) - set(row)
    row.update(values)
    row["measures"] = row["instruments"]  # every published measure: here only the built-in ones
    return row


# ---------------------------------------------------------------- caseload


class CaseloadScene:
    """Supervisor Sam supervises Casey (busy) and Dana (idle); Eli's supervision by Sam has ended; Olu is
    unrelated. Sam holds one case of their own."""

    def __init__(self, catalog):
        self.sam = staff("Sam Supervisor", Role.SUPERVISOR)
        self.casey = staff("Casey Clinician")
        self.dana = staff("Dana Dormant")
        self.eli = staff("Eli Ended")
        self.olu = staff("Olu Other")
        SupervisionFactory(supervisor=self.sam, supervisee=self.casey, started_on=T(-200))
        SupervisionFactory(supervisor=self.sam, supervisee=self.dana, started_on=T(-200))
        SupervisionFactory(supervisor=self.sam, supervisee=self.eli, started_on=T(-200), ended_on=T(-10))
        casey = self.casey

        # Cases: A and B open, P paused, X closed.
        self.a_case, a = individual_case(casey, opened_on=T(-90))
        self.b_case, b1, b2 = couple_case(casey, opened_on=T(-90))
        self.p_case, _ = individual_case(casey, opened_on=T(-90), status=CaseStatus.PAUSED)
        self.x_case, _ = individual_case(
            casey, opened_on=T(-90), status=CaseStatus.CLOSED, closed_on=T(-5), closing_reason="goals met"
        )

        # Goals on open and paused cases count; those on the closed case and those entered in error do not.
        L = GoalLifecycle
        for case, status in [
            (self.a_case, L.ACTIVE),
            (self.a_case, L.ACTIVE),
            (self.a_case, L.PROPOSED),
            (self.a_case, L.COMPLETED),
            (self.a_case, L.ENTERED_IN_ERROR),
            (self.b_case, L.ACTIVE),
            (self.b_case, L.ON_HOLD),
            (self.b_case, L.CANCELLED),
            (self.p_case, L.PROPOSED),
            (self.x_case, L.ACTIVE),
            (self.x_case, L.ACTIVE),
            (self.x_case, L.ACTIVE),
        ]:
            GoalFactory(case=case, lifecycle_status=status)

        # Homework.
        # H1 daily, A's client, from T-9, target 30, no due: expected by today = days 0..9 = 10.
        #   Completions T-9 (day 0), T-8 twice (day 1 once), T-5 (day 4), today (day 9) → 4 days.
        self.h1 = assign(catalog, self.a_case, [a], frequency="daily", start=T(-9), target=30)
        for days in (9, 8, 8, 5, 0):
            submit(self.h1, a, days)
        # H2 weekly joint, B's partners, T-20 to T-6, target 3: expected (14 // 7) + 1 = 3 weeks.
        #   b1 at T-20 (week 0), b2 at T-19 (week 0 again, shared), b2 at T-12 (8 // 7 = week 1) → 2. Overdue.
        self.h2 = assign(
            catalog, self.b_case, [b1, b2], frequency="weekly", start=T(-20), due=T(-6), target=3, mode="joint"
        )
        for client, days in ((b1, 20), (b2, 19), (b2, 12)):
            submit(self.h2, client, days)
        # H3 once, each partner of B, T-4 to T-1: expected 1 + 1 = 2; only b1 did it → 1. Overdue.
        self.h3 = assign(catalog, self.b_case, [b1, b2], frequency="once", start=T(-4), due=T(-1), target=1)
        submit(self.h3, b1, 3)
        # H4 once, A: done, so it completes and is no longer active homework.
        self.h4 = assign(catalog, self.a_case, [a], frequency="once", start=T(-3), target=1)
        submit(self.h4, a, 2)
        # H5 weekly, A: cancelled, with a completion; not counted.
        self.h5 = assign(catalog, self.a_case, [a], frequency="weekly", start=T(-6), target=4)
        submit(self.h5, a, 1)
        homework_services.assignment_cancel(actor=casey, assignment=self.h5)
        # H6 daily on the paused case, starting tomorrow: active, nothing expected yet, not overdue.
        self.h6 = assign(catalog, self.p_case, [self.p_case.client], frequency="daily", start=T(1), due=T(10), target=5)
        # Active: H1, H2, H3, H6 = 4. Completed 4 + 2 + 1 + 0 = 7 of expected 10 + 3 + 2 + 0 = 15 → 0.4667.

        # Notes by Casey. Drafts 3 days or more after the session are late; 2 days is not yet.
        NoteFactory(case=self.a_case, session_date=T(-3))  # late (boundary)
        NoteFactory(case=self.a_case, session_date=T(-2))  # not yet
        NoteFactory(case=self.b_case, session_date=T(-30))  # late
        NoteFactory(
            case=self.a_case,
            session_date=T(-20),
            status=NoteStatus.ENTERED_IN_ERROR,
            entered_in_error_reason="wrong client",
        )  # retired: not a draft
        # Signed by Casey, who is supervised: needs Sam's co-signature.
        awaiting = note_services.note_create(
            actor=casey, case=self.a_case, session_date=T(-10), format="soap", sections=SECTIONS
        )
        note_services.note_sign(actor=casey, note=awaiting)
        cosigned = note_services.note_create(
            actor=casey, case=self.b_case, session_date=T(-12), format="soap", sections=SECTIONS
        )
        cosigned = note_services.note_sign(actor=casey, note=cosigned)
        note_services.note_cosign(actor=self.sam, note=cosigned)
        NoteFactory(case=self.b_case, session_date=T(-15), status=NoteStatus.SIGNED, signed_at=ago(14))  # no cosign

        # Safety alerts: PHQ-9 item 9 above 0. One on A (open), one on B acknowledged, none for b2.
        assess(casey, self.a_case, a, "phq9", 12, 3, item9=1)
        acknowledged = assess(casey, self.b_case, b1, "phq9", 15, 2, item9=2)
        alert_acknowledge(actor=casey, alert=SafetyAlert.objects.get(assessment=acknowledged))
        assess(casey, self.b_case, b2, "phq9", 8, 2)

        # Sam's own caseload: one open case with an active goal and a late draft.
        self.sam_case, _ = individual_case(self.sam, opened_on=T(-30))
        GoalFactory(case=self.sam_case, lifecycle_status=GoalLifecycle.ACTIVE)
        NoteFactory(case=self.sam_case, session_date=T(-5))

        # Eli (no longer supervised by Sam) and Olu have busy caseloads that must not appear.
        for other in (self.eli, self.olu):
            case, client = individual_case(other, opened_on=T(-40))
            GoalFactory(case=case, lifecycle_status=GoalLifecycle.ACTIVE)
            NoteFactory(case=case, session_date=T(-20))
            assess(other, case, client, "phq9", 14, 1, item9=3)
            assign(catalog, case, [client], frequency="daily", start=T(-5), target=7)

    def casey_row(self):
        return caseload_row(
            self.casey,
            open_cases=2,  # A, B
            paused_cases=1,  # P
            goals_proposed=2,  # A, P
            goals_active=3,  # A *2, B
            goals_on_hold=1,
            goals_completed=1,
            goals_cancelled=1,
            active_homework=4,  # H1, H2, H3, H6
            homework_adherence=0.4667,  # 7 / 15 = 0.46666…
            overdue_homework=2,  # H2, H3
            notes_unsigned_over_72h=2,  # sessions at T-3 and T-30
            notes_awaiting_cosign=1,
            unacknowledged_alerts=1,
        )

    def sam_row(self):
        return caseload_row(self.sam, open_cases=1, goals_active=1, notes_unsigned_over_72h=1)


@pytest.fixture
def caseload_scene(catalog):
    return CaseloadScene(catalog)


def test_caseload_numbers_for_a_clinician(caseload_scene):
    s = caseload_scene
    assert caseload_report(user=s.casey) == [s.casey_row()]


def test_a_supervisor_sees_their_own_row_and_current_supervisees(caseload_scene):
    s = caseload_scene
    # Sam first, then the current supervisees by name: Casey, Dana. Not Eli (ended), not Olu.
    assert caseload_report(user=s.sam) == [s.sam_row(), s.casey_row(), caseload_row(s.dana)]


def test_a_clinician_never_gets_another_clinicians_row(caseload_scene):
    s = caseload_scene
    assert caseload_report(user=s.dana) == [caseload_row(s.dana)]
    olu = caseload_report(user=s.olu)
    assert [row["clinician"] for row in olu] == [s.olu.pk]
    assert olu[0]["open_cases"] == 1
    assert olu[0]["unacknowledged_alerts"] == 1


def test_admin_and_client_get_no_caseload_rows(caseload_scene):
    assert caseload_report(user=UserFactory(role=Role.ADMIN)) == []
    client_login = caseload_scene.a_case.client.user
    assert caseload_report(user=client_login) == []


def test_unsigned_note_boundary_is_three_days_after_the_session(db):
    casey = staff("Casey")
    case, _ = individual_case(casey)
    NoteFactory(case=case, session_date=T(-2))
    assert caseload_report(user=casey)[0]["notes_unsigned_over_72h"] == 0
    NoteFactory(case=case, session_date=T(-3))
    assert caseload_report(user=casey)[0]["notes_unsigned_over_72h"] == 1
    # Seen from tomorrow, the T-2 draft is late too.
    assert caseload_report(user=casey, today=T(1))[0]["notes_unsigned_over_72h"] == 2


def test_signing_and_cosigning_move_notes_out_of_the_counts(db):
    sam = staff("Sam", Role.SUPERVISOR)
    casey = staff("Casey")
    SupervisionFactory(supervisor=sam, supervisee=casey)
    case, _ = individual_case(casey)
    note = note_services.note_create(actor=casey, case=case, session_date=T(-4), format="soap", sections=SECTIONS)
    row = caseload_report(user=casey)[0]
    assert (row["notes_unsigned_over_72h"], row["notes_awaiting_cosign"]) == (1, 0)
    note = note_services.note_sign(actor=casey, note=note)
    row = caseload_report(user=casey)[0]
    assert (row["notes_unsigned_over_72h"], row["notes_awaiting_cosign"]) == (0, 1)
    note_services.note_cosign(actor=sam, note=note)
    row = caseload_report(user=casey)[0]
    assert (row["notes_unsigned_over_72h"], row["notes_awaiting_cosign"]) == (0, 0)


def test_after_the_supervision_ends_the_supervisor_no_longer_gets_the_row(db):
    sam = staff("Sam", Role.SUPERVISOR)
    casey = staff("Casey")
    supervision = SupervisionFactory(supervisor=sam, supervisee=casey, started_on=T(-30))
    individual_case(casey)
    assert [row["clinician"] for row in caseload_report(user=sam)] == [sam.pk, casey.pk]
    from clinical.services.accounts import supervision_end

    supervision_end(actor=staff("Dana", Role.ADMIN), supervision=supervision)
    assert [row["clinician"] for row in caseload_report(user=sam)] == [sam.pk]


# ---------------------------------------------------------------- SQL adherence = Python adherence


class AdherenceScene:
    """One clinician per assignment (all supervised by Sam), so each report row shows that one assignment."""

    def __init__(self, catalog):
        self.sam = staff("Sam", Role.SUPERVISOR)
        self.assignments = {}
        self.expected = {}  # name → (hand-computed adherence, overdue)

        def holder(name):
            clinician = staff(f"Clinician {name}")
            SupervisionFactory(supervisor=self.sam, supervisee=clinician)
            return clinician

        def single(name):
            case, client = individual_case(holder(name), opened_on=T(-60))
            return case, client

        def pair(name):
            case, a, b = couple_case(holder(name), opened_on=T(-60))
            return case, a, b

        # once, one client, done in time → completes. 1 / 1.
        case, a = single("once-single")
        h = self.add("once-single", assign(catalog, case, [a], frequency="once", start=T(-5), due=T(-2), target=1))
        submit(h, a, 3)
        self.expected["once-single"] = (1.0, False)

        # once, joint: b's completion counts for both. 1 / 1.
        case, a, b = pair("once-joint")
        h = self.add(
            "once-joint",
            assign(catalog, case, [a, b], frequency="once", start=T(-5), due=T(-1), target=1, mode="joint"),
        )
        submit(h, b, 4)
        self.expected["once-joint"] = (1.0, False)

        # once, each partner, nobody did it, past due. 0 / 2, overdue.
        case, a, b = pair("once-each-missed")
        self.add("once-each-missed", assign(catalog, case, [a, b], frequency="once", start=T(-5), due=T(-1), target=1))
        self.expected["once-each-missed"] = (0.0, True)

        # daily, each partner, from T-6, target 14, no due: 7 days expected each → 14.
        #   a: T-6, T-5, T-5, T-1 → days {0, 1, 5} = 3; b: T-6, today → days {0, 6} = 2. 5 / 14 = 0.3571.
        case, a, b = pair("daily-each")
        h = self.add("daily-each", assign(catalog, case, [a, b], frequency="daily", start=T(-6), target=14))
        for client, days in ((a, 6), (a, 5), (a, 5), (a, 1), (b, 6), (b, 0)):
            submit(h, client, days)
        self.expected["daily-each"] = (0.3571, False)

        # daily, joint, T-6 to T-3, target 4: expected min(4, 3 + 1) = 4.
        #   a T-6 (day 0), b T-6 (day 0, shared), b T-5 (day 1), a T-2 (day 4, after the due date) → {0, 1, 4}
        #   = 3 of 4 → 0.75; not done, past due → overdue.
        case, a, b = pair("daily-joint-late")
        h = self.add(
            "daily-joint-late",
            assign(catalog, case, [a, b], frequency="daily", start=T(-6), due=T(-3), target=4, mode="joint"),
        )
        for client, days in ((a, 6), (b, 6), (b, 5), (a, 2)):
            submit(h, client, days)
        self.expected["daily-joint-late"] = (0.75, True)

        # weekly, one client, from T-20, target 4, no due: expected min(4, 20 // 7 + 1 = 3) = 3.
        #   T-20 (week 0), T-15 (5 // 7 = 0), T-13 (7 // 7 = 1), T-1 (19 // 7 = 2) → 3 of 3 → 1.0, still active.
        case, a = single("weekly-single")
        h = self.add("weekly-single", assign(catalog, case, [a], frequency="weekly", start=T(-20), target=4))
        for days in (20, 15, 13, 1):
            submit(h, a, days)
        self.expected["weekly-single"] = (1.0, False)

        # weekly, joint, T-27 to T-6, target 3: expected min(3, 21 // 7 + 1 = 4) = 3.
        #   a T-27 (week 0), b T-22 (5 // 7 = 0), b T-12 (15 // 7 = 2) → {0, 2} = 2 of 3 → 0.6667, overdue.
        case, a, b = pair("weekly-joint")
        h = self.add(
            "weekly-joint",
            assign(catalog, case, [a, b], frequency="weekly", start=T(-27), due=T(-6), target=3, mode="joint"),
        )
        for client, days in ((a, 27), (b, 22), (b, 12)):
            submit(h, client, days)
        self.expected["weekly-joint"] = (0.6667, True)

        # weekly, each partner, T-13 to T-7, target 1: expected 1 each. a did it after the due date, at T-2
        #   (11 // 7 = week 1); b never did → 1 of 2 → 0.5, overdue.
        case, a, b = pair("weekly-each-late")
        h = self.add(
            "weekly-each-late",
            assign(catalog, case, [a, b], frequency="weekly", start=T(-13), due=T(-7), target=1),
        )
        submit(h, a, 2)
        self.expected["weekly-each-late"] = (0.5, True)

        # daily, starting in two days: nothing expected yet → no adherence.
        case, a = single("before-start")
        self.add("before-start", assign(catalog, case, [a], frequency="daily", start=T(2), due=T(8), target=5))
        self.expected["before-start"] = (None, False)

        # daily, from T-4, target 10: expected 5. T-4 (day 0) and T-3 (day 1); the T-3 one is corrected to T-1
        #   (day 3) and corrected again (still day 3); the T-4 one is corrected keeping its date (day 0).
        #   Current revisions: days {0, 3} → 2 of 5 → 0.4. Amended revisions do not count.
        case, a = single("amended")
        h = self.add("amended", assign(catalog, case, [a], frequency="daily", start=T(-4), target=10))
        first = submit(h, a, 4)
        second = submit(h, a, 3)
        second = homework_services.submission_amend(
            actor=a.user, submission=second, responses=RESPONSES, completed_at=ago(1)
        )
        homework_services.submission_amend(actor=a.user, submission=second, responses={**RESPONSES, "felt_natural": 9})
        homework_services.submission_amend(actor=a.user, submission=first, responses={**RESPONSES, "said_it": False})
        self.expected["amended"] = (0.4, False)

    def add(self, name, assignment):
        self.assignments[name] = assignment
        return assignment

    def clinician_of(self, name):
        return self.assignments[name].case.clinician_id


@pytest.fixture
def adherence_scene(catalog):
    return AdherenceScene(catalog)


def python_progress(scene):
    assignments = list(
        HomeworkAssignment.objects.filter(pk__in=[a.pk for a in scene.assignments.values()]).prefetch_related(
            "assignees"
        )
    )
    progress = selectors.assignment_progress(assignments=assignments, today=T())
    by_pk = {a.pk: a for a in assignments}
    return {name: (by_pk[a.pk], progress[a.pk]) for name, a in scene.assignments.items()}


def test_python_adherence_matches_the_hand_computation(adherence_scene):
    for name, (_, progress) in python_progress(adherence_scene).items():
        assert (progress.overall.adherence, progress.overdue) == adherence_scene.expected[name], name


def test_sql_adherence_in_the_outcomes_report_equals_the_python_one(adherence_scene):
    scene = adherence_scene
    rows = rows_by_clinician(outcomes_report(user=scene.sam)["rows"])
    python = python_progress(scene)
    for name, (_, progress) in python.items():
        row = rows[scene.clinician_of(name)]
        assert row["homework_adherence"] == progress.overall.adherence, name
        assert row["homework_adherence"] == scene.expected[name][0], name


def test_sql_adherence_in_the_caseload_report_equals_the_python_one(adherence_scene):
    scene = adherence_scene
    rows = rows_by_clinician(caseload_report(user=scene.sam))
    python = python_progress(scene)
    statuses = {}
    for name, (assignment, progress) in python.items():
        row = rows[scene.clinician_of(name)]
        statuses[name] = assignment.status
        if assignment.status == AssignmentStatus.ACTIVE:
            assert row["active_homework"] == 1, name
            assert row["homework_adherence"] == progress.overall.adherence, name
            assert row["overdue_homework"] == int(progress.overdue), name
        else:  # completed homework is not active homework
            assert progress.done, name
            assert (row["active_homework"], row["homework_adherence"], row["overdue_homework"]) == (0, None, 0), name
    # The one-offs done by everyone completed; everything else is still active.
    assert statuses == {
        "once-single": AssignmentStatus.COMPLETED,
        "once-joint": AssignmentStatus.COMPLETED,
        "once-each-missed": AssignmentStatus.ACTIVE,
        "daily-each": AssignmentStatus.ACTIVE,
        "daily-joint-late": AssignmentStatus.ACTIVE,
        "weekly-single": AssignmentStatus.ACTIVE,
        "weekly-joint": AssignmentStatus.ACTIVE,
        "weekly-each-late": AssignmentStatus.ACTIVE,
        "before-start": AssignmentStatus.ACTIVE,
        "amended": AssignmentStatus.ACTIVE,
    }


def test_sql_adherence_equals_python_on_another_day(adherence_scene):
    # Seen from T+30 every dated assignment has passed its due date; those without one have more periods begun.
    scene = adherence_scene
    rows = rows_by_clinician(caseload_report(user=scene.sam, today=T(30)))
    assignments = [a for a, _ in python_progress(scene).values()]
    progress = selectors.assignment_progress(assignments=assignments, today=T(30))
    for name, assignment in scene.assignments.items():
        row = rows[scene.clinician_of(name)]
        expected = progress[assignment.pk]
        if row["active_homework"]:
            assert row["homework_adherence"] == expected.overall.adherence, name
            assert row["overdue_homework"] == int(expected.overdue), name
    # Two hand checks: daily-each now expects min(14, 37) = 14 each → 5 / 28 = 0.1786; before-start expects
    # min(5, 7) = 5 (T+2 to T+8) with nothing done → 0.0 and overdue.
    assert rows[scene.clinician_of("daily-each")]["homework_adherence"] == 0.1786
    assert rows[scene.clinician_of("before-start")]["homework_adherence"] == 0.0
    assert rows[scene.clinician_of("before-start")]["overdue_homework"] == 1


# ---------------------------------------------------------------- outcomes


class OutcomesScene:
    """Casey (supervised by Sam) holds case 1 (client P, opened T-60), case 2 (couple Q and R, opened T-30) and
    case 3 (closed at T-100). Sam holds case 5 (client V). Eli's supervision by Sam has ended."""

    def __init__(self, catalog):
        self.sam = staff("Sam Supervisor", Role.SUPERVISOR)
        self.casey = staff("Casey Clinician")
        self.eli = staff("Eli Ended")
        SupervisionFactory(supervisor=self.sam, supervisee=self.casey, started_on=T(-300))
        SupervisionFactory(supervisor=self.sam, supervisee=self.eli, started_on=T(-300), ended_on=T(-60))
        casey = self.casey
        A = GoalAchievement

        self.case1, p = individual_case(casey, opened_on=T(-60))
        self.case2, q, r = couple_case(casey, opened_on=T(-30))
        self.case3, _ = individual_case(
            casey, opened_on=T(-200), status=CaseStatus.CLOSED, closed_on=T(-100), closing_reason="moved away"
        )
        self.p, self.q, self.r = p, q, r

        # Goals (entered-in-error goals count nowhere).
        g1 = GoalFactory(case=self.case1, domain="communication", gas_levels=GAS_LEVELS, achievement_status=A.ACHIEVED)
        g2 = GoalFactory(case=self.case1, domain="trust_rebuilding", gas_levels=GAS_LEVELS)
        GoalFactory(case=self.case2, domain="emotional_intimacy", achievement_status=A.ACHIEVED)  # no GAS
        g4 = GoalFactory(case=self.case2, domain="communication", gas_levels=GAS_LEVELS)
        g5 = GoalFactory(
            case=self.case2,
            domain="communication",
            gas_levels=GAS_LEVELS,
            achievement_status=A.ACHIEVED,
            lifecycle_status=GoalLifecycle.ENTERED_IN_ERROR,
        )
        GASRatingFactory(goal=g5, score=2, rated_on=T(-3))
        GoalFactory(
            case=self.case3, achievement_status=A.ACHIEVED, lifecycle_status=GoalLifecycle.COMPLETED
        )  # counts only when case 3 is in the period
        # GAS: g1 0 at T-30, +1 at T-10; g2 -1 at T-20, 0 at T-5; g4 -2 at T-12.
        rate(g1, 0, 30)
        rate(g1, 1, 10)
        rate(g2, -1, 20)
        rate(g2, 0, 5)
        rate(g4, -2, 12)
        self.gas_goals = (g1, g2, g4)

        # Assessments (change = latest - baseline).
        assess(casey, self.case1, p, "phq9", 15, 40)
        assess(casey, self.case1, p, "phq9", 8, 20)
        assess(casey, self.case1, p, "phq9", 7, 5)  # -8: improved; 15 case → 7 not: recovered
        assess(casey, self.case1, p, "gad7", 10, 40)
        assess(casey, self.case1, p, "gad7", 9, 5)  # -1: none; 9 is still a GAD-7 case
        assess(casey, self.case2, q, "phq9", 8, 25)
        assess(casey, self.case2, q, "phq9", 14, 3)  # +6: deteriorated; 8 was not a case
        assess(casey, self.case2, r, "phq9", 12, 25)
        assess(casey, self.case2, r, "phq9", 10, 3)  # -2: none; 12 case → 10 still a case
        assess(casey, self.case2, q, "csi4", 10, 25)
        assess(casey, self.case2, q, "csi4", 16, 3)  # +6; 10 distressed → 16 not: recovered
        assess(casey, self.case2, r, "csi4", 12, 25)
        assess(casey, self.case2, r, "csi4", 12, 3)  # 0; still distressed

        # Homework.
        # Case 1: daily, P, from T-9, target 10: expected 10; done T-9 … T-2 → 8 days. P: 8 / 10 = 0.8.
        h1 = assign(catalog, self.case1, [p], frequency="daily", start=T(-9), target=10)
        for days in range(9, 1, -1):
            submit(h1, p, days)
        # Case 2: weekly, each of Q and R, from T-20, target 3: expected 20 // 7 + 1 = 3 each → 6.
        #   Q: T-18 (week 0), T-10 (10 // 7 = week 1) → 2 (Q: 2 / 3 = 0.667); R: T-17 (week 0) → 1 (R: 1 / 3).
        h2 = assign(catalog, self.case2, [q, r], frequency="weekly", start=T(-20), target=3)
        for client, days in ((q, 18), (q, 10), (r, 17)):
            submit(h2, client, days)

        # Sam's own case 5: V, PHQ-9 20 → 9 (-11: improved, recovered). No goals, no homework.
        self.case5, v = individual_case(self.sam, opened_on=T(-10))
        assess(self.sam, self.case5, v, "phq9", 20, 9)
        assess(self.sam, self.case5, v, "phq9", 9, 2)

        # Eli's case: must not reach Sam's report.
        eli_case, w = individual_case(self.eli, opened_on=T(-40))
        assess(self.eli, eli_case, w, "phq9", 5, 20)
        assess(self.eli, eli_case, w, "phq9", 24, 1)
        GoalFactory(case=eli_case, achievement_status=A.NOT_ACHIEVED)

    def casey_values(self):
        return {
            "cases": 2,  # cases 1 and 2 (case 3 closed before the period)
            "goals_achieved_rate": 0.5,  # g1, g3 achieved of g1, g2, g3, g4 → 2 / 4
            # case 1: latest g1 +1, g2 0 → 50 + 10 * 1 / √(1.4 + 1.2) = 56.2017; case 2: g4 -2 → 50 - 20 = 30
            # mean (56.2017 + 30) / 2 = 43.1009
            "mean_gas_t": 43.1,
            "homework_adherence": 0.6875,  # (8 + 3) / (10 + 6) = 11 / 16
            "instruments": instruments_block(
                phq9={
                    "n_clients": 3,  # P -8, Q +6, R -2
                    "mean_change": -1.33,  # -4 / 3
                    "reliably_improved_rate": 0.3333,  # P
                    "reliably_deteriorated_rate": 0.3333,  # Q
                    "recovered_rate": 0.5,  # cases at baseline: P (15), R (12); P recovered → 1 / 2
                    "mean_change_adherence_at_least_0_7": -8.0,  # P (0.8)
                    "mean_change_adherence_below_0_7": 2.0,  # Q (0.667) +6, R (0.333) -2 → 4 / 2
                },
                gad7={
                    "n_clients": 1,
                    "mean_change": -1.0,
                    "reliably_improved_rate": 0.0,
                    "reliably_deteriorated_rate": 0.0,
                    "recovered_rate": 0.0,  # P was a case (10) and still is (9)
                    "mean_change_adherence_at_least_0_7": -1.0,
                },
                csi4={
                    "n_clients": 2,  # Q +6, R 0
                    "mean_change": 3.0,
                    # no CSI-4 reliable-change parameters configured → no rates
                    "recovered_rate": 0.5,  # both distressed at baseline (10, 12); Q recovered
                    "mean_change_adherence_below_0_7": 3.0,
                },
            ),
        }


@pytest.fixture
def outcomes_scene(catalog, no_csi4_parameters):
    return OutcomesScene(catalog)


def test_outcomes_for_a_clinician(outcomes_scene):
    s = outcomes_scene
    report = outcomes_report(user=s.casey, date_from=T(-50))
    assert report["rows"] == [outcome_row(s.casey, **s.casey_values())]
    assert report["total"] == outcome_row(None, **s.casey_values())
    assert (report["date_from"], report["date_to"], report["domain"]) == (T(-50), T(), None)


def test_mean_gas_t_is_gas_t_score_of_the_latest_ratings(outcomes_scene):
    from clinical.instruments import gas_t_score

    s = outcomes_scene
    _, g2, _ = s.gas_goals
    case1_t = gas_t_score([1, 0])  # latest ratings of g1 and g2
    case2_t = gas_t_score([-2])
    assert (case1_t, case2_t) == (56.2, 30.0)
    only_case1 = outcomes_report(user=s.casey, date_from=T(-50), domain="trust_rebuilding")
    assert only_case1["rows"][0]["cases"] == 1
    assert only_case1["rows"][0]["mean_gas_t"] == case1_t
    # A new rating replaces the latest: g2 at +2 today → 50 + 10 * 3 / 1.612452 = 68.6052 → 68.61
    rate(g2, 2, 0)
    again = outcomes_report(user=s.casey, date_from=T(-50), domain="trust_rebuilding")
    assert again["rows"][0]["mean_gas_t"] == gas_t_score([1, 2]) == 68.61


def test_a_case_closed_before_the_period_is_left_out(outcomes_scene):
    s = outcomes_scene
    # Without a start date case 3 is in: 3 cases, goals achieved (2 + 1) / (4 + 1) = 0.6.
    everything = outcomes_report(user=s.casey)
    assert (everything["rows"][0]["cases"], everything["rows"][0]["goals_achieved_rate"]) == (3, 0.6)
    # Closed at T-100: in a period from T-100 (boundary), out of one from T-99.
    assert outcomes_report(user=s.casey, date_from=T(-100))["rows"][0]["cases"] == 3
    assert outcomes_report(user=s.casey, date_from=T(-99))["rows"][0]["cases"] == 2


def test_a_case_opened_after_the_period_is_left_out(outcomes_scene):
    s = outcomes_scene
    # to T-35: case 2 (opened T-30) is out; case 1 (T-60) in.
    report = outcomes_report(user=s.casey, date_from=T(-50), date_to=T(-35))
    assert report["rows"][0]["cases"] == 1
    assert report["date_to"] == T(-35)
    # to T-30: case 2 opened that day, so it is in.
    assert outcomes_report(user=s.casey, date_from=T(-50), date_to=T(-30))["rows"][0]["cases"] == 2
    # A date after today is read as today.
    assert outcomes_report(user=s.casey, date_to=T(10))["date_to"] == T()


def test_outcomes_as_of_an_earlier_date(outcomes_scene):
    s = outcomes_scene
    report = outcomes_report(user=s.casey, date_from=T(-50), date_to=T(-15))
    row = report["rows"][0]
    assert row["cases"] == 2
    # Ratings up to T-15: g1 0 (T-30), g2 -1 (T-20) → 50 - 10 / 1.612452 = 43.7983; g4 not yet rated.
    assert row["mean_gas_t"] == 43.8
    # Assessments up to T-15: P's PHQ-9 15 → 8 (T-20): -7, improved, recovered. Q and R have only baselines;
    # P's GAD-7 only a baseline. P's homework starts at T-9: nothing expected by T-15, so no adherence.
    assert row["instruments"] == instruments_block(
        phq9={
            "n_clients": 1,
            "mean_change": -7.0,
            "reliably_improved_rate": 1.0,
            "reliably_deteriorated_rate": 0.0,
            "recovered_rate": 1.0,
        }
    )


def test_homework_adherence_as_of_an_earlier_date_counts_completions_up_to_that_date(outcomes_scene):
    s = outcomes_scene
    report = outcomes_report(user=s.casey, date_from=T(-50), date_to=T(-15))
    # As of T-15: case 1's daily homework starts at T-9 → expected 0 (its 8 completions come later).
    # Case 2's weekly homework (from T-20): 5 // 7 + 1 = 1 week expected each → 2. Q's week 0 (T-18) and R's
    # week 0 (T-17) are in; Q's week 1 (T-10) is after the date. → 2 / 2 = 1.0.
    assert report["rows"][0]["homework_adherence"] == 1.0
    assert report["total"]["homework_adherence"] == 1.0


def test_outcomes_for_a_supervisor_cover_their_own_and_current_supervisees(outcomes_scene):
    s = outcomes_scene
    report = outcomes_report(user=s.sam, date_from=T(-50))
    sam = outcome_row(
        s.sam,
        cases=1,
        instruments=instruments_block(
            phq9={
                "n_clients": 1,
                "mean_change": -11.0,
                "reliably_improved_rate": 1.0,
                "reliably_deteriorated_rate": 0.0,
                "recovered_rate": 1.0,
                # V has no homework: no adherence, in neither group
            }
        ),
    )
    assert report["rows"] == [sam, outcome_row(s.casey, **s.casey_values())]  # not Eli
    casey = s.casey_values()
    total = outcome_row(
        None,
        cases=3,
        goals_achieved_rate=0.5,  # Sam's case has no goals: still 2 / 4
        mean_gas_t=43.1,  # the mean over cases with GAS ratings
        homework_adherence=0.6875,
        instruments=instruments_block(
            phq9={
                "n_clients": 4,  # P -8, Q +6, R -2, V -11
                "mean_change": -3.75,  # -15 / 4
                "reliably_improved_rate": 0.5,  # P, V
                "reliably_deteriorated_rate": 0.25,  # Q
                "recovered_rate": 0.6667,  # cases at baseline P, R, V; P and V recovered → 2 / 3
                "mean_change_adherence_at_least_0_7": -8.0,
                "mean_change_adherence_below_0_7": 2.0,
            },
            gad7=casey["instruments"]["gad7"],
            csi4=casey["instruments"]["csi4"],
        ),
    )
    assert report["total"] == total


def test_clinician_filter(outcomes_scene):
    s = outcomes_scene
    only_casey = outcomes_report(user=s.sam, date_from=T(-50), clinician=s.casey)
    assert only_casey["rows"] == [outcome_row(s.casey, **s.casey_values())]
    assert only_casey["total"] == outcome_row(None, **s.casey_values())
    # Someone the caller may not report on gives nothing, not their numbers.
    for caller, named in ((s.sam, s.eli), (s.casey, s.sam), (s.casey, s.eli)):
        report = outcomes_report(user=caller, date_from=T(-50), clinician=named)
        assert report["rows"] == []
        assert report["total"] == outcome_row(None)


def test_domain_filter(outcomes_scene):
    s = outcomes_scene
    report = outcomes_report(user=s.casey, date_from=T(-50), domain="emotional_intimacy")
    values = {
        "cases": 1,  # case 2 only
        "goals_achieved_rate": 1.0,  # the domain's goals only: g3 achieved (g4 is communication; g5 in error)
        "mean_gas_t": 30.0,  # g4 at -2
        "homework_adherence": 0.5,  # 3 / 6
        "instruments": instruments_block(
            phq9={
                "n_clients": 2,  # Q +6, R -2
                "mean_change": 2.0,
                "reliably_improved_rate": 0.0,
                "reliably_deteriorated_rate": 0.5,
                "recovered_rate": 0.0,  # R was a case and still is
                "mean_change_adherence_below_0_7": 2.0,
            },
            csi4=s.casey_values()["instruments"]["csi4"],
        ),
    }
    assert report["rows"] == [outcome_row(s.casey, **values)]
    assert report["total"] == outcome_row(None, **values)
    assert report["domain"] == "emotional_intimacy"
    none = outcomes_report(user=s.casey, date_from=T(-50), domain="conflict_resolution")
    assert none["rows"] == [outcome_row(s.casey)]
    assert none["total"] == outcome_row(None)


def test_admin_and_client_get_no_outcome_rows(outcomes_scene):
    s = outcomes_scene
    for user in (UserFactory(role=Role.ADMIN), s.p.user):
        report = outcomes_report(user=user)
        assert report["rows"] == []
        assert report["total"] == outcome_row(None)


def test_csi4_rates_with_reliable_change_parameters(catalog, settings):
    # SD 4, r 0.9: threshold 1.96 * √2 * 4 * √0.1 = 3.506 points.
    settings.RELIABLE_CHANGE_PARAMETERS = {"csi4": (4, 0.9)}
    casey = staff("Casey")
    case, q, r = couple_case(casey, opened_on=T(-30))
    assess(casey, case, q, "csi4", 10, 25)
    assess(casey, case, q, "csi4", 16, 3)  # +6 > 3.506: improved, recovered
    assess(casey, case, r, "csi4", 15, 25)
    assess(casey, case, r, "csi4", 11, 3)  # -4: deteriorated; 15 was not distressed
    row = outcomes_report(user=casey)["rows"][0]
    assert row["instruments"]["csi4"] == {
        **EMPTY_INSTRUMENT,
        "n_clients": 2,
        "mean_change": 1.0,  # (6 - 4) / 2
        "reliably_improved_rate": 0.5,
        "reliably_deteriorated_rate": 0.5,
        "recovered_rate": 1.0,  # only Q distressed at baseline; Q recovered
    }


# ---------------------------------------------------------------- query count


def full_case(catalog, clinician, index):
    """An open case with a GAS-rated goal, a PHQ-9 series with an alert, homework with a completion, a late draft
    and a signed note."""
    case, client = individual_case(clinician, opened_on=T(-30))
    goal = GoalFactory(case=case, gas_levels=GAS_LEVELS, achievement_status=GoalAchievement.ACHIEVED)
    rate(goal, index % 5 - 2, 3)
    assess(clinician, case, client, "phq9", 14, 20)
    assess(clinician, case, client, "phq9", 6, 2, item9=1)
    assess(clinician, case, client, "gad7", 9, 20)
    assess(clinician, case, client, "gad7", 4, 2)
    homework = assign(catalog, case, [client], frequency="daily", start=T(-5), target=7)
    submit(homework, client, 1)
    NoteFactory(case=case, session_date=T(-5))
    NoteFactory(case=case, session_date=T(-6), status=NoteStatus.SIGNED, signed_at=ago(5), cosign_required=True)
    return case


def count(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries)


def test_reports_make_the_same_number_of_queries_for_1_and_30_cases(catalog):
    sam = staff("Sam", Role.SUPERVISOR)
    casey = staff("Casey")
    dana = staff("Dana")
    SupervisionFactory(supervisor=sam, supervisee=casey)
    SupervisionFactory(supervisor=sam, supervisee=dana)
    full_case(catalog, casey, 0)

    def measure():
        return {
            "caseload clinician": count(lambda: caseload_report(user=casey)),
            "caseload supervisor": count(lambda: caseload_report(user=sam)),
            "outcomes clinician": count(lambda: outcomes_report(user=casey)),
            "outcomes supervisor": count(lambda: outcomes_report(user=sam, date_from=T(-60), domain="communication")),
        }

    one = measure()
    assert caseload_report(user=casey)[0]["open_cases"] == 1
    for index in range(1, 30):
        full_case(catalog, casey if index % 2 else dana, index)
    thirty = measure()
    rows = rows_by_clinician(caseload_report(user=sam))
    assert rows[casey.pk]["open_cases"] + rows[dana.pk]["open_cases"] == 30
    assert outcomes_report(user=sam)["total"]["cases"] == 30
    assert thirty == one


def test_a_joint_assignment_done_by_one_partner_counts_for_both_in_the_adherence_split(catalog):
    # A couple's joint weekly homework from T-20, target 3 (3 weeks expected): only Q does it, weeks 0, 1 and 2, so
    # by the adherence rule (clinical/adherence.py: every joint assignee shows the shared count) both Q and R are at
    # 1.0, and both partners' PHQ-9 changes fall in the "at least 0.7" mean; R's own count (0) would put R below.
    casey = staff("Casey Clinician")
    case, q, r = couple_case(casey, opened_on=T(-30))
    joint = assign(catalog, case, [q, r], frequency="weekly", start=T(-20), target=3, mode="joint")
    for days in (18, 10, 3):
        submit(joint, q, days)
    assess(casey, case, q, "phq9", 8, 25)
    assess(casey, case, q, "phq9", 14, 2)  # +6
    assess(casey, case, r, "phq9", 12, 25)
    assess(casey, case, r, "phq9", 10, 2)  # -2

    phq9 = rows_by_clinician(outcomes_report(user=casey)["rows"])[casey.pk]["instruments"]["phq9"]

    assert phq9["n_clients"] == 2
    assert phq9["mean_change_adherence_at_least_0_7"] == 2.0  # (+6 - 2) / 2
    assert phq9["mean_change_adherence_below_0_7"] is None
