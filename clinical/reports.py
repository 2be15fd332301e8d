"""Caseload and outcome reports: SQL aggregates grouped by clinician (and a total), a fixed number of queries
however large the caseload. Rows cover the clinicians the caller may report on: a clinician themself; a
supervisor themself and their current supervisees.

Who may be reported on is always decided on the primary database; the figures are read from the database named
by `using` (the API may choose a streaming replica, api/replica.py), everything else being equal.

Homework adherence here is the SQL form of clinical/adherence.py (distinct periods with a completion, against
periods begun, capped by the target; `each` sums assignees, `joint` shares one count), reading the assignments,
their assignees and their completions from the kept progress rows (clinical/services/progress.py: one index range
per case) rather than from every assignment, assignee and submission; GAS T is the SQL form of
instruments.gas_t_score with equal weights. Tests hold each pair together.
"""

from datetime import date, timedelta

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, Q
from django.utils import timezone

from clinical import instruments
from clinical.models import (
    Case,
    CaseStatus,
    ConjointHold,
    GoalLifecycle,
    HoldStatus,
    ProgressNote,
    SafetyAlert,
    Session,
    TreatmentGoal,
    User,
)
from clinical.selectors import clinicians_reportable_by, current_measures, missing_a_note

UNSIGNED_AFTER_DAYS = 3  # a draft is late 72 hours after the session day
ADHERENCE_SPLIT = 0.7
SESSION_DAYS = 28  # the caseload report counts the sessions of the last four weeks
SESSION_OUTCOMES = ("attended", "cancelled", "late_cancelled", "no_show")


def _ratio(numerator, denominator) -> float | None:
    return None if not denominator else round(float(numerator) / float(denominator), 4)


def _round(value, digits=2) -> float | None:
    return None if value is None else round(float(value), digits)


def _fetch(sql: str, params: dict, using: str) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# The cases reported on (id, clinician), given by key. Every later step reads per case from `team`, so a statement
# names the (possibly thousands of) cases once: parsed and planned with one array, not one per step.
TEAM_BY_KEY = """
    team AS MATERIALIZED (
        SELECT id, clinician_id FROM clinical_case WHERE id = ANY(%(case_ids)s::uuid[])
    )
"""

# The homework of the cases in `team`, progress as of %(today)s: every kept row (one per assignee, and one per joint
# assignment), with its expected and completed counts; per_assignment sums them per assignment.
HOMEWORK_ROWS = """
    homework AS (
        /* The kept progress rows (HomeworkProgress) of the cases' non-cancelled homework: one per assignee of each
           assignment and, for a joint one, one for the assignment as a whole (client NULL; an `each` assignment's whole
           is not read: its assignees' rows add up to it), each with the assignment's columns, read from one index range
           per case (progress_by_case, covering), so the cost follows the cases reported on, whatever the size of the
           practice. Per row: `expected` by %(today)s, from the dates; `completed`, the row's own distinct periods with
           a completion by the end of %(today)s, capped by the target (a kept row whose last completion is before then,
           or that has none, counts as it stands; the few with a later one, a report as of an earlier day or a phone's
           clock a little ahead, are counted again from their submissions); `counts`, the rows whose sum is the
           assignment's figures (`each`: its assignees; `joint`: its whole). */
        SELECT c.clinician_id, h.*
        FROM team c
        CROSS JOIN LATERAL (
            SELECT r.*, (r.mode = 'joint') = (r.client_id IS NULL) AS counts
            FROM (
                SELECT p.assignment_id AS id, p.case_id, p.client_id, p.mode, p.status, p.due_date,
                    p.target_count AS target,
                    CASE
                        WHEN %(today)s::date < p.start_date THEN 0
                        WHEN p.frequency = 'once' THEN 1
                        WHEN p.frequency = 'daily' THEN LEAST(p.target_count,
                            (LEAST(%(today)s::date, COALESCE(p.due_date, %(today)s::date)) - p.start_date) + 1)
                        ELSE LEAST(p.target_count,
                            (LEAST(%(today)s::date, COALESCE(p.due_date, %(today)s::date)) - p.start_date) / 7 + 1)
                    END AS expected,
                    LEAST(p.target_count, CASE
                        WHEN p.last_completed_at IS NULL OR p.last_completed_at < (%(today)s::date + 1)::timestamptz
                            THEN p.periods
                        ELSE (
                            SELECT COUNT(DISTINCT s.period) FROM clinical_homeworksubmission s
                            WHERE s.assignment_id = p.assignment_id
                                AND (p.client_id IS NULL OR s.client_id = p.client_id)
                                AND s.status = 'current' AND s.completed_at < (%(today)s::date + 1)::timestamptz
                        )
                    END) AS completed
                FROM clinical_homeworkprogress p
                WHERE p.case_id = c.id AND p.status <> 'cancelled' AND (p.client_id IS NOT NULL OR p.mode = 'joint')
            ) r
        ) h
    ),
    per_assignment AS (
        SELECT id, case_id, clinician_id, status, due_date, SUM(completed) AS completed, SUM(expected) AS expected,
            BOOL_AND(completed >= target) AS done
        FROM homework WHERE counts GROUP BY id, case_id, clinician_id, status, due_date
    )
"""


# ---------------------------------------------------------------- caseload

CASELOAD_HOMEWORK = f"""
WITH {TEAM_BY_KEY}, {HOMEWORK_ROWS}
SELECT clinician_id,
    COUNT(*) FILTER (WHERE status = 'active'),
    COALESCE(SUM(completed) FILTER (WHERE status = 'active'), 0),
    COALESCE(SUM(expected) FILTER (WHERE status = 'active'), 0),
    COUNT(*) FILTER (WHERE status = 'active' AND due_date < %(today)s::date AND NOT done)
FROM per_assignment GROUP BY clinician_id
"""


def caseload_report(
    *, user: User, clinician: User | None = None, today: date | None = None, using: str = DEFAULT_DB_ALIAS
) -> list[dict]:
    """Per clinician: open and paused cases, goals by lifecycle status (open and paused cases), active homework
    with its adherence and how much is overdue, notes unsigned 72 h after the session, notes awaiting
    co-signature, unacknowledged safety alerts, couple cases under a conjoint hold awaiting a decision; sessions of
    the last four weeks by outcome (attended, cancelled, cancelled late, no-show) and attended sessions still
    without a signed note after the grace period."""
    today = today or timezone.localdate()
    clinicians = list(clinicians_reportable_by(user=user))
    if clinician is not None:
        clinicians = [c for c in clinicians if c.pk == clinician.pk]
    ids = [c.pk for c in clinicians]
    lifecycle = [s.value for s in GoalLifecycle if s != GoalLifecycle.ENTERED_IN_ERROR]
    rows = {
        c.pk: {
            "clinician": c.pk,
            "clinician_name": c.display_name,
            "open_cases": 0,
            "paused_cases": 0,
            **{f"goals_{s}": 0 for s in lifecycle},
            "active_homework": 0,
            "homework_adherence": None,
            "overdue_homework": 0,
            "notes_unsigned_over_72h": 0,
            "notes_awaiting_cosign": 0,
            "unacknowledged_alerts": 0,
            "conjoint_holds": 0,
            **{f"sessions_{s}": 0 for s in SESSION_OUTCOMES},
            "sessions_missing_note": 0,
        }
        for c in clinicians
    }
    aggregates = [
        (
            "clinician",
            Case.objects.using(using)
            .filter(clinician__in=ids)
            .values("clinician")
            .annotate(
                open_cases=Count("pk", filter=Q(status=CaseStatus.OPEN)),
                paused_cases=Count("pk", filter=Q(status=CaseStatus.PAUSED)),
            ),
        ),
        (
            "case__clinician",
            TreatmentGoal.objects.using(using)
            .filter(case__clinician__in=ids, case__status__in=["open", "paused"])
            .values("case__clinician")
            .annotate(**{f"goals_{s}": Count("pk", filter=Q(lifecycle_status=s)) for s in lifecycle}),
        ),
        (
            "author",
            ProgressNote.objects.using(using)
            .filter(author__in=ids)
            .values("author")
            .annotate(
                notes_unsigned_over_72h=Count(
                    "pk", filter=Q(status="draft", session_date__lte=today - timedelta(days=UNSIGNED_AFTER_DAYS))
                ),
                notes_awaiting_cosign=Count(
                    "pk", filter=Q(status="signed", cosign_required=True, cosigned_at__isnull=True)
                ),
            ),
        ),
        (
            "case__clinician",
            SafetyAlert.objects.using(using)
            .filter(case__clinician__in=ids, acknowledged_at__isnull=True)
            .values("case__clinician")
            .annotate(unacknowledged_alerts=Count("pk")),
        ),
        (
            "case__clinician",
            ConjointHold.objects.using(using)
            .filter(case__clinician__in=ids, case__status__in=["open", "paused"], status=HoldStatus.HELD)
            .values("case__clinician")
            .annotate(conjoint_holds=Count("pk")),
        ),
    ]
    # Sessions of the last SESSION_DAYS days by what became of them, and attended ones still without a signed note
    # NOTE_GRACE_HOURS after they ended (as notes/missing/ lists them).
    since = timezone.now() - timedelta(days=SESSION_DAYS)
    aggregates.append(
        (
            "clinician",
            Session.objects.using(using)
            .filter(clinician__in=ids)
            .values("clinician")
            .annotate(
                **{f"sessions_{s}": Count("pk", filter=Q(status=s, starts_at__gte=since)) for s in SESSION_OUTCOMES},
                sessions_missing_note=Count("pk", filter=missing_a_note()),
            ),
        )
    )
    for key, queryset in aggregates:
        for result in queryset:
            rows[result.pop(key)].update(result)
    open_cases = Case.objects.using(using).filter(clinician__in=ids, status__in=["open", "paused"])
    case_ids = list(open_cases.values_list("pk", flat=True))
    for clinician_id, active, completed, expected, overdue in _fetch(
        CASELOAD_HOMEWORK, {"today": today, "case_ids": case_ids}, using
    ):
        rows[clinician_id].update(
            active_homework=active, homework_adherence=_ratio(completed, expected), overdue_homework=overdue
        )
    return list(rows.values())


# ---------------------------------------------------------------- outcomes


OUTCOME_SCORES = """
client_adherence AS (
    /* What each client has done against what was expected of them: a `joint` assignee counts the assignment's
       shared figure (its whole row, joined by hash over the team's rows: a window per case cost more than the
       rest of the homework rows together). */
    SELECT h.client_id,
        SUM(CASE WHEN h.mode = 'joint' THEN w.completed ELSE h.completed END)::float / NULLIF(SUM(h.expected), 0)
            AS adherence
    FROM homework h
    LEFT JOIN homework w ON h.mode = 'joint' AND w.client_id IS NULL AND w.id = h.id
    WHERE h.client_id IS NOT NULL GROUP BY h.client_id
),
latest AS (
    /* Each series' latest score, read per case of the team by key. */
    SELECT t.clinician_id, a.*
    FROM team t
    CROSS JOIN LATERAL (
        SELECT DISTINCT ON (client_id, instrument)
            case_id, client_id, instrument, change, reliable_change, recovered
        FROM clinical_assessment
        WHERE case_id = t.id AND NOT is_baseline AND administered_at < %(until_end)s
        ORDER BY client_id, instrument, administered_at DESC
    ) a
),
scored AS (
    SELECT l.clinician_id, l.instrument, l.change, l.reliable_change, l.recovered, ca.adherence,
        b.at_caseness AS case_at_baseline
    FROM latest l
    /* The baselines, looked up per latest score (LATERAL, OFFSET 0: not flattened). As a three-column join
       PostgreSQL expected one row from it and recomputed client_adherence once per score. */
    CROSS JOIN LATERAL (
        SELECT b.at_caseness FROM clinical_assessment b
        WHERE b.case_id = l.case_id AND b.client_id = l.client_id AND b.instrument = l.instrument AND b.is_baseline
        OFFSET 0
    ) b
    LEFT JOIN client_adherence ca ON ca.client_id = l.client_id
),
instrument_rows AS (
    SELECT clinician_id, instrument, COUNT(*) AS n, AVG(change) AS mean,
        AVG(CASE WHEN reliable_change = 'improved' THEN 1.0 ELSE 0.0 END) FILTER (WHERE reliable_change <> '')
            AS improved,
        AVG(CASE WHEN reliable_change = 'deteriorated' THEN 1.0 ELSE 0.0 END) FILTER (WHERE reliable_change <> '')
            AS deteriorated,
        AVG(CASE WHEN recovered THEN 1.0 ELSE 0.0 END) FILTER (WHERE case_at_baseline) AS recovered,
        AVG(change) FILTER (WHERE adherence >= %(split)s) AS adherent,
        AVG(change) FILTER (WHERE adherence < %(split)s) AS less
    FROM scored
    GROUP BY GROUPING SETS ((clinician_id, instrument), (instrument))
)"""

# The cases an outcomes report covers, found in the statement itself (no round trip for their ids): the clinicians'
# cases opened by %(until)s, still open on %(date_from)s if given, with a goal in %(domain)s if given.
OUTCOME_TEAM = """
team AS MATERIALIZED (
    SELECT c.id, c.clinician_id FROM clinical_case c
    WHERE c.clinician_id = ANY(%(clinicians)s::uuid[]) AND c.opened_on <= %(until)s::date
        AND (%(date_from)s::date IS NULL OR c.closed_on IS NULL OR c.closed_on >= %(date_from)s::date)
        AND (%(team_domain)s::text IS NULL OR EXISTS (
            SELECT 1 FROM clinical_treatmentgoal g
            WHERE g.case_id = c.id AND g.domain = %(team_domain)s::text AND g.lifecycle_status <> 'entered_in_error'
        ))
)"""

OUTCOME_CASES = """
goal AS (
    /* The team's goals, per case by key, read once for both the GAS and the share achieved. */
    SELECT g.*
    FROM team t
    CROSS JOIN LATERAL (
        SELECT id, case_id, achievement_status = 'achieved' AS achieved,
            gas_levels IS NOT NULL AND lifecycle_status <> 'cancelled' AS rated,
            (%(domain)s::text IS NULL OR domain = %(domain)s::text) AS counted
        FROM clinical_treatmentgoal
        WHERE case_id = t.id AND lifecycle_status <> 'entered_in_error'
        OFFSET 0
    ) g
),
goal_rating AS (
    /* Each goal's latest rating, looked up per goal of these cases (not by scanning every rating). */
    SELECT g.case_id, r.score
    FROM goal g
    CROSS JOIN LATERAL (
        SELECT score FROM clinical_goalattainmentrating
        WHERE goal_id = g.id AND rated_on <= %(until)s::date
        ORDER BY rated_on DESC LIMIT 1
    ) r
    WHERE g.rated
),
case_gas AS (
    SELECT case_id, 50 + 10 * SUM(score) / SQRT(0.7 * COUNT(*) + 0.3 * COUNT(*) * COUNT(*)) AS t
    FROM goal_rating GROUP BY case_id
),
case_goals AS (
    SELECT case_id, COUNT(*) AS goals, COUNT(*) FILTER (WHERE achieved) AS achieved
    FROM goal WHERE counted GROUP BY case_id
),
case_homework AS (
    SELECT case_id, SUM(completed) AS completed, SUM(expected) AS expected FROM homework WHERE counts GROUP BY case_id
),
case_sessions AS (
    /* The team's sessions in the period by what became of them, per case by key (session_by_case). */
    SELECT t.id AS case_id, s.*
    FROM team t
    CROSS JOIN LATERAL (
        SELECT COUNT(*) FILTER (WHERE status = 'attended') AS attended,
            COUNT(*) FILTER (WHERE status = 'cancelled') AS cancelled,
            COUNT(*) FILTER (WHERE status = 'late_cancelled') AS late_cancelled,
            COUNT(*) FILTER (WHERE status = 'no_show') AS no_show
        FROM clinical_session
        WHERE case_id = t.id AND starts_at < %(until_end)s
            AND (%(date_from)s::date IS NULL OR starts_at >= %(date_from)s::date)
    ) s
),
case_rows AS (
    SELECT c.clinician_id, COUNT(*) AS n, SUM(cg.achieved) AS achieved, SUM(cg.goals) AS goals, AVG(gas.t) AS gas_t,
        SUM(ch.completed) AS completed, SUM(ch.expected) AS expected,
        SUM(cs.attended) AS attended, SUM(cs.cancelled) AS cancelled, SUM(cs.late_cancelled) AS late_cancelled,
        SUM(cs.no_show) AS no_show
    FROM team c
    LEFT JOIN case_goals cg ON cg.case_id = c.id
    LEFT JOIN case_gas gas ON gas.case_id = c.id
    LEFT JOIN case_homework ch ON ch.case_id = c.id
    LEFT JOIN case_sessions cs ON cs.case_id = c.id
    GROUP BY GROUPING SETS ((c.clinician_id), ())
)"""

# One statement, so that the team's homework (HOMEWORK_ROWS) is gathered once for both parts: rows of kind `case`
# (clinician, cases, achieved, goals, GAS T, completed, expected, sessions attended, cancelled, late cancelled, no-show)
# and `instrument` (clinician, instrument, n, mean change, improved, deteriorated, recovered, mean change adherent,
# below). float8 throughout, for the UNION.
OUTCOMES = f"""
WITH {OUTCOME_TEAM}, {HOMEWORK_ROWS},
{OUTCOME_CASES},
{OUTCOME_SCORES}
SELECT 'case', clinician_id, NULL::text, n::float8, achieved::float8, goals::float8, gas_t::float8,
    completed::float8, expected::float8, attended::float8, cancelled::float8, late_cancelled::float8, no_show::float8
FROM case_rows
UNION ALL
SELECT 'instrument', clinician_id, instrument::text, n::float8, mean::float8, improved::float8, deteriorated::float8,
    recovered::float8, adherent::float8, less::float8, NULL::float8, NULL::float8, NULL::float8
FROM instrument_rows
"""


def outcomes_report(
    *,
    user: User,
    date_from: date | None = None,
    date_to: date | None = None,
    domain: str | None = None,
    clinician: User | None = None,
    today: date | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> dict:
    """Per clinician, and a total row: cases active in the period, the share of goals achieved, mean GAS T,
    homework adherence, and per instrument the clients with a baseline and a later score, their mean change and
    the share reliably improved, reliably deteriorated and (of those at caseness at baseline) recovered; plus
    the mean change of clients whose homework adherence is at least 0.7 against those below; and the sessions of
    those cases in the period (from `date_from`, if given, to the end of `date_to`) by what became of them.
    The per-instrument figures come twice in each row: `instruments`, the built-in measures, and `measures`,
    every published measure (clinical.selectors.current_measures, in its order), built-in and the practice's own,
    each with figures or none."""
    today = today or timezone.localdate()
    until = min(date_to or today, today)
    clinicians = list(clinicians_reportable_by(user=user))
    if clinician is not None:
        clinicians = [c for c in clinicians if c.pk == clinician.pk]
    params = {
        "clinicians": [c.pk for c in clinicians],
        "date_from": date_from,
        "team_domain": domain or None,
        "domain": domain,
        "today": until,
        "until": until,
        "until_end": until + timedelta(days=1),
        "split": ADHERENCE_SPLIT,
    }
    no_figures = {
        "n_clients": 0,
        "mean_change": None,
        "reliably_improved_rate": None,
        "reliably_deteriorated_rate": None,
        "recovered_rate": None,
        "mean_change_adherence_at_least_0_7": None,
        "mean_change_adherence_below_0_7": None,
    }
    published = [row.code for row, _ in current_measures()]

    def blank(clinician_id, name):
        return {
            "clinician": clinician_id,
            "clinician_name": name,
            "cases": 0,
            "goals_achieved_rate": None,
            "mean_gas_t": None,
            "homework_adherence": None,
            **{f"sessions_{s}": 0 for s in SESSION_OUTCOMES},
            "instruments": {code: dict(no_figures) for code in instruments.INSTRUMENTS},
            "measures": {code: dict(no_figures) for code in published},
        }

    rows = {c.pk: blank(c.pk, c.display_name) for c in clinicians}
    total = blank(None, "All")
    for kind, clinician_id, code, n, *figures in _fetch(OUTCOMES, params, using):
        row = rows[clinician_id] if clinician_id else total
        if kind == "case":
            achieved, goals, gas_t, completed, expected, *sessions = figures
            row.update(
                cases=int(n),
                goals_achieved_rate=_ratio(achieved or 0, goals),
                mean_gas_t=_round(gas_t),
                homework_adherence=_ratio(completed or 0, expected),
                **{f"sessions_{s}": int(count or 0) for s, count in zip(SESSION_OUTCOMES, sessions, strict=True)},
            )
            continue
        mean, improved, deteriorated, recovered, adherent, less, *_ = figures
        row["measures"][code] = {
            "n_clients": int(n),
            "mean_change": _round(mean),
            "reliably_improved_rate": _round(improved, 4),
            "reliably_deteriorated_rate": _round(deteriorated, 4),
            "recovered_rate": _round(recovered, 4),
            "mean_change_adherence_at_least_0_7": _round(adherent),
            "mean_change_adherence_below_0_7": _round(less),
        }
        if code in row["instruments"]:
            row["instruments"][code] = dict(row["measures"][code])
    return {"date_from": date_from, "date_to": until, "domain": domain, "rows": list(rows.values()), "total": total}
