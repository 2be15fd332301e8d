"""Homework progress kept, not recomputed: the HomeworkProgress rows that reports read instead of walking every
submission (clinical/reports.py). What a row holds is a function of the assignment's current submissions alone:
distinct periods with a completion and the latest completion, per submitting client and for the assignment as a
whole. So every path that changes which submissions are current keeps the rows in step, inside its transaction,
by recounting the one assignment it changed (keep_progress). Assignment cancellation, assignee changes and the
passing of days change no row: the reports leave out cancelled homework, join the current assignees, and compute
what is expected by a date from the assignment's dates.

`repair_progress` recounts every row from the submissions, says how many differed, and mends them.
"""

from django.db import connection, transaction

# Every row, recounted from the current submissions: per (assignment, client), and per assignment (client NULL).
RECOUNT = """
    SELECT s.assignment_id, s.client_id, COUNT(DISTINCT s.period) AS periods,
        MAX(s.completed_at) AS last_completed_at
    FROM clinical_homeworksubmission s
    WHERE s.status = 'current' {where}
    GROUP BY GROUPING SETS ((s.assignment_id, s.client_id), (s.assignment_id))
"""

UPSERT = """
    INSERT INTO clinical_homeworkprogress AS p (assignment_id, client_id, periods, last_completed_at)
    {recount}
    ON CONFLICT (assignment_id, client_id) DO UPDATE
        SET periods = EXCLUDED.periods, last_completed_at = EXCLUDED.last_completed_at
        WHERE (p.periods, p.last_completed_at) IS DISTINCT FROM (EXCLUDED.periods, EXCLUDED.last_completed_at)
"""

# The recount is kept and also answered (client id, or NULL for the whole assignment; distinct periods), so that the
# service learns whether the homework is now done from the same statement (clinical/adherence.py done_by_counts).
KEEP = """
    WITH recount AS ({recount}), kept AS ({upsert})
    SELECT client_id, periods FROM recount
""".format(  # noqa: S608 - the module's own statements
    recount=RECOUNT.format(where="AND s.assignment_id = %s"),
    upsert=UPSERT.format(recount="SELECT assignment_id, client_id, periods, last_completed_at FROM recount"),
)


def keep_progress(*, assignment_id) -> dict:
    """Recount one assignment's rows after its submissions changed: one statement. The caller holds the
    assignment's row lock (lock_at_version), so two submissions to one assignment recount one after the other and
    the later sees the earlier. A client's row never goes away here: an amendment replaces a current submission
    with another of the same client.

    Returns the recount: {client id: distinct periods with a current submission, None: across all its clients}."""
    with connection.cursor() as cursor:
        cursor.execute(KEEP, [assignment_id])
        return dict(cursor.fetchall())


DIFFERENCES = """
    WITH truth AS ({recount})
    SELECT
        COUNT(*) FILTER (WHERE p.assignment_id IS NULL) AS missing,
        COUNT(*) FILTER (WHERE t.assignment_id IS NOT NULL AND p.assignment_id IS NOT NULL
            AND (p.periods, p.last_completed_at) IS DISTINCT FROM (t.periods, t.last_completed_at)) AS wrong,
        COUNT(*) FILTER (WHERE t.assignment_id IS NULL) AS extra
    FROM truth t
    FULL JOIN clinical_homeworkprogress p
        ON p.assignment_id = t.assignment_id AND p.client_id IS NOT DISTINCT FROM t.client_id
""".format(recount=RECOUNT.format(where=""))

DELETE_EXTRA = """
    DELETE FROM clinical_homeworkprogress p
    WHERE NOT EXISTS (
        SELECT 1 FROM clinical_homeworksubmission s
        WHERE s.assignment_id = p.assignment_id AND s.status = 'current'
            AND (p.client_id IS NULL OR s.client_id = p.client_id)
    )
"""


@transaction.atomic
def repair_progress(*, fix: bool = True) -> dict[str, int]:
    """Compare every kept row with a recount from the submissions: {'missing': n, 'wrong': n, 'extra': n} (rows
    a recount has and the table lacks, rows whose figures differ, rows with no current submission behind them).
    With `fix`, make the table equal to the recount. The table is locked against the services' upserts meanwhile
    (they wait, then recount their assignment from what is committed by then), so a repair never undoes a
    submission that commits during it."""
    with connection.cursor() as cursor:
        mode = "SHARE ROW EXCLUSIVE" if fix else "SHARE"
        cursor.execute(f"LOCK TABLE clinical_homeworkprogress IN {mode} MODE")
        cursor.execute(DIFFERENCES)
        missing, wrong, extra = cursor.fetchone()
        if fix and (missing or wrong or extra):
            cursor.execute(DELETE_EXTRA)
            cursor.execute(UPSERT.format(recount=RECOUNT.format(where="")))
    return {"missing": missing, "wrong": wrong, "extra": extra}
