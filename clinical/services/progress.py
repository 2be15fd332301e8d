"""Homework progress kept, not recomputed: the HomeworkProgress rows that reports read instead of walking every
assignment, assignee and submission (clinical/reports.py).

Every assignment has one row per assignee and one for the assignment as a whole (client NULL), from the moment it
is created, with no submission yet (zero periods). A row holds what the submissions determine (distinct periods
with a current completion and the latest completion: per assignee, and across every submitter for the whole) and a
copy of the assignment's columns the reports need (case, mode, status, dates, frequency, target), so that a report
reads one index range per case (`progress_by_case`, covering) instead of looking up assignments, assignees and
progress one by one. What is expected by a date stays computed from the dates.

So every service that changes an assignment's columns, its assignees or which of its submissions are current
keeps its rows in step, inside its transaction, by recounting the one assignment it changed (keep_progress, one
statement, under the assignment's row lock). `repair_progress` recounts every row from the assignments and the
submissions, says how many differed, and mends them.
"""

from django.db import connection, transaction

# Assignment columns copied onto every row of the assignment.
ASSIGNMENT_COLUMNS = ("case_id", "mode", "status", "start_date", "due_date", "frequency", "target_count")
COLUMNS = ("assignment_id", "client_id", *ASSIGNMENT_COLUMNS, "periods", "last_completed_at")
NOBODY = "'00000000-0000-0000-0000-000000000000'::uuid"  # stands for the NULL client in hash joins


def recount(*, one: bool) -> str:
    """SQL: every row as it should be, from the assignments, their assignees and their current submissions; with
    `one`, only those of the assignment `%(assignment)s`."""

    def only(column: str) -> str:
        return f"AND {column} = %(assignment)s" if one else ""

    return f"""
    WITH counts AS (
        SELECT s.assignment_id, s.client_id, COUNT(DISTINCT s.period) AS periods,
            MAX(s.completed_at) AS last_completed_at
        FROM clinical_homeworksubmission s
        WHERE s.status = 'current' {only("s.assignment_id")}
        GROUP BY GROUPING SETS ((s.assignment_id, s.client_id), (s.assignment_id))
    ),
    assignee AS (
        SELECT homeworkassignment_id AS assignment_id, client_id
        FROM clinical_homeworkassignment_assignees WHERE true {only("homeworkassignment_id")}
        UNION ALL
        SELECT id, NULL FROM clinical_homeworkassignment WHERE true {only("id")}
    )
    SELECT a.id, x.client_id, {", ".join(f"a.{c}" for c in ASSIGNMENT_COLUMNS)},
        COALESCE(n.periods, 0) AS periods, n.last_completed_at
    FROM clinical_homeworkassignment a
    JOIN assignee x ON x.assignment_id = a.id
    LEFT JOIN counts n ON n.assignment_id = a.id
        AND COALESCE(n.client_id, {NOBODY}) = COALESCE(x.client_id, {NOBODY})
    WHERE true {only("a.id")}
    """


UPSERT = """
    INSERT INTO clinical_homeworkprogress AS p ({columns})
    {recount}
    ON CONFLICT (assignment_id, client_id) DO UPDATE
        SET {sets}
        WHERE ({old}) IS DISTINCT FROM ({new})
"""


def upsert(*, one: bool, recount_sql: str | None = None) -> str:
    kept = COLUMNS[2:]
    return UPSERT.format(
        columns=", ".join(COLUMNS),
        recount=recount_sql or recount(one=one),
        sets=", ".join(f"{c} = EXCLUDED.{c}" for c in kept),
        old=", ".join(f"p.{c}" for c in kept),
        new=", ".join(f"EXCLUDED.{c}" for c in kept),
    )


# One assignment's rows recounted, kept, and also answered (client id, or NULL for the whole assignment; distinct
# periods), so that the service learns whether the homework is now done from the same statement
# (clinical/adherence.py done_by_counts).
KEEP = f"""
    WITH recount AS ({recount(one=True)}),
    kept AS ({upsert(one=True, recount_sql="SELECT * FROM recount")})
    SELECT client_id, periods FROM recount
"""
FILL = f"INSERT INTO clinical_homeworkprogress ({', '.join(COLUMNS)}) {recount(one=False)}"


def keep_progress(*, assignment_id) -> dict:
    """Recount one assignment's rows after it, its assignees or its submissions changed: one statement. The
    caller holds the assignment's row lock (lock_at_version, or it has just created it), so two changes to one
    assignment recount one after the other and the later sees the earlier. Assignees are set when the assignment
    is created and never change, so a row never goes away here.

    Returns the recount: {client id: distinct periods with a current submission (0 for an assignee with none),
    None: across all its clients}."""
    with connection.cursor() as cursor:
        cursor.execute(KEEP, {"assignment": assignment_id})
        return dict(cursor.fetchall())


DIFFERENCES = """
    WITH truth AS ({recount})
    SELECT
        COUNT(*) FILTER (WHERE p.assignment_id IS NULL) AS missing,
        COUNT(*) FILTER (WHERE t.id IS NOT NULL AND p.assignment_id IS NOT NULL
            AND ({kept}) IS DISTINCT FROM ({truth})) AS wrong,
        COUNT(*) FILTER (WHERE t.id IS NULL) AS extra
    FROM truth t
    FULL JOIN clinical_homeworkprogress p
        ON p.assignment_id = t.id AND COALESCE(p.client_id, {nobody}) = COALESCE(t.client_id, {nobody})
""".format(
    recount=recount(one=False),
    kept=", ".join(f"p.{c}" for c in COLUMNS[2:]),
    truth=", ".join(f"t.{c}" for c in COLUMNS[2:]),
    nobody=NOBODY,
)

DELETE_EXTRA = """
    DELETE FROM clinical_homeworkprogress p
    WHERE p.client_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM clinical_homeworkassignment_assignees x
        WHERE x.homeworkassignment_id = p.assignment_id AND x.client_id = p.client_id
    )
"""


@transaction.atomic
def repair_progress(*, fix: bool = True) -> dict[str, int]:
    """Compare every kept row with a recount from the assignments, their assignees and their submissions:
    {'missing': n, 'wrong': n, 'extra': n} (rows a recount has and the table lacks, rows whose figures or
    assignment columns differ, rows of a client who is not an assignee). With `fix`, make the table equal to the
    recount. The table is locked against the services' upserts meanwhile (they wait, then recount their assignment
    from what is committed by then), so a repair never undoes a change that commits during it."""
    with connection.cursor() as cursor:
        mode = "SHARE ROW EXCLUSIVE" if fix else "SHARE"
        cursor.execute(f"LOCK TABLE clinical_homeworkprogress IN {mode} MODE")
        cursor.execute(DIFFERENCES)
        missing, wrong, extra = cursor.fetchone()
        if fix and (missing or wrong or extra):
            cursor.execute(DELETE_EXTRA)
            cursor.execute(upsert(one=False))
    return {"missing": missing, "wrong": wrong, "extra": extra}
