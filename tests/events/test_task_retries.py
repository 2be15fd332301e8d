"""A job cut off by PostgreSQL going away is tried again; any other error fails it (it is a bug to look at). Without
the retry, a delivery caught by a database outage stayed `pending` with no job left to send it (make resilience)."""

from datetime import UTC, datetime

import psycopg
import pytest
from django.db import utils as db
from procrastinate.jobs import Job

from events.tasks import deliver, fan_out

OUTAGE = [db.OperationalError("server closed the connection"), db.InterfaceError("connection already closed")]
OUTAGE += [psycopg.OperationalError("the database cannot be reached")]


def job(task, attempts: int) -> Job:
    return Job(id=1, queue=task.queue, lock=None, queueing_lock=None, task_name=task.name, attempts=attempts)


@pytest.mark.parametrize("task", [fan_out, deliver], ids=["fan_out", "deliver"])
@pytest.mark.parametrize("error", OUTAGE, ids=lambda e: type(e).__name__)
def test_a_job_cut_by_a_database_outage_is_tried_again(task, error):
    decisions = [task.retry_strategy.get_retry_decision(exception=error, job=job(task, n)) for n in range(20)]
    now = datetime.now(UTC)
    waits = [round((decision.retry_at - now).total_seconds()) for decision in decisions]
    assert waits == list(range(5, 101, 5))  # 20 attempts over about 17 minutes
    assert task.retry_strategy.get_retry_decision(exception=error, job=job(task, 20)) is None


@pytest.mark.parametrize("task", [fan_out, deliver], ids=["fan_out", "deliver"])
def test_other_errors_fail_the_job(task):
    assert task.retry_strategy.get_retry_decision(exception=ValueError("a bug"), job=job(task, 0)) is None
