"""Small helpers the test modules share: reading problem+json answers and result pages, dates relative to today,
and requests sent from several threads at once. Fixtures live in the conftest files, scenes in tests/factories."""

import json
import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

ALL_SCOPES = ["clinical:read", "clinical:write", "homework", "reports", "admin"]
READ_WRITE = ["clinical:read", "clinical:write"]
HOMEWORK = ["homework"]
PROBLEM = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


class Caller(APIClient):
    """An API client holding a bearer token for one user."""

    def __init__(self, user, token):
        super().__init__()
        self.user = user
        self.token = token
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")


# ---------------------------------------------------------------- answers


def problem(response):
    """The problem+json body of an error answer (the status is the caller's to check)."""
    assert response["Content-Type"] == PROBLEM, response.content
    return response.json()


def assert_problem(response, status, code=None):
    """An RFC 9457 problem with this status (and this `code`, when given); returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("/api/problems/")
    if code:
        assert body["code"] == code, body
    return body


def error_fields(response):
    """The fields a 400 names, in its order."""
    return [e["field"] for e in problem(response)["errors"]]


def ids(response) -> set:
    """The ids on a 200 page of results."""
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# ---------------------------------------------------------------- time


def yesterday() -> str:
    return (timezone.localdate() - timedelta(days=1)).isoformat()


def earlier_today(**ago):
    """`ago` (timedelta's keywords) before now, but not before today's midnight: homework and schedules started today
    refuse a completion dated yesterday, and the suite may run just after midnight."""
    now = timezone.now()
    return max(now - timedelta(**ago), timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0))


def days_ago(n, hour=12):
    """That day at `hour`:00 (UTC in the test settings)."""
    return (timezone.now() - timedelta(days=n)).replace(hour=hour, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------- races


def sent_at_once(send, times=6):
    """Call `send()` from `times` threads released together, each on its own database connection (the test needs
    `django_db(transaction=True)`); returns each answer's (status, Idempotent-Replayed), in the order they came."""
    results = []
    start = threading.Barrier(times)

    def one():
        start.wait()
        try:
            response = send()
            results.append((response.status_code, response.get("Idempotent-Replayed")))
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def progress_by_the_rule(assignment, *, today, assignees=None, until=None):
    """What clinical/adherence.py, the single definition of homework progress, says of an assignment as of `today`
    from its current submissions (those completed by the end of `until` only, when given)."""
    from clinical import adherence

    periods = {}
    for client, period, completed_at in assignment.submissions.filter(status="current").values_list(
        "client", "period", "completed_at"
    ):
        if until is None or timezone.localdate(completed_at) <= until:
            periods.setdefault(client, set()).add(period)
    return adherence.assignment_progress(
        frequency=assignment.frequency,
        mode=assignment.mode,
        start=assignment.start_date,
        due=assignment.due_date,
        target=assignment.target_count,
        assignees=[c.pk for c in assignment.assignees.all()] if assignees is None else assignees,
        periods_by_client=periods,
        today=today,
    )
