"""Choose the benchmark's callers and records in a generated practice, give them tokens, and record the SQL
each endpoint runs (the baselines replay it). Writes one JSON file that bench/run.py and the baseline views read.
"""

import json
import secrets
from datetime import UTC, timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count, F, Func, Min, Q
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from api.pagination import _encode
from clinical import selectors
from clinical.models import (
    AssignmentStatus,
    Case,
    CaseStatus,
    Client,
    HomeworkAssignment,
    HomeworkSubmission,
    OAuthApplication,
    ProgressNote,
    Role,
    Session,
    User,
)

from ... import sample

DEEP_PAGE = 5000
PAGE_SIZE = 20
POSTING_CLIENTS = 32
REPLAYED = ("me_assignments", "case_detail", "case_notes", "submissions_deep", "clinician_week", "me_sessions")
WEEK_PAGE_SIZE = 100  # a clinician's week of sessions on one page


def _token(user: User, scopes: str, application: OAuthApplication) -> str:
    raw = secrets.token_urlsafe(24)
    token = AccessToken(user=user, application=application, scope=scopes, expires=timezone.now() + timedelta(days=1))
    set_token_value(token, raw)
    token.save()
    return raw


def _client_nearest(count: Count, wanted: int) -> Client:
    """The client with a login whose `count` (annotated as `n`) is nearest `wanted`, the first by id among equals."""
    return (
        Client.objects.filter(user__isnull=False)
        .annotate(n=count)
        .annotate(distance=Func(F("n") - wanted, function="ABS"))
        .order_by("distance", "id")
        .first()
    )


CLIENT_HOMEWORK = 20  # active assignments of the client whose me/assignments is measured, at every scale


def _busy_client() -> Client:
    """A client with CLIENT_HOMEWORK active assignments on open cases (or as near as there is): the same
    me/assignments page at every scale, so the scale ratio compares like with like (the busiest client of a
    bigger practice has more homework only because there are more clients to choose from)."""
    active = Q(assignments__status=AssignmentStatus.ACTIVE, assignments__case__status=CaseStatus.OPEN)
    return _client_nearest(Count("assignments", filter=active), CLIENT_HOMEWORK)


UPCOMING_SESSIONS = 4  # sessions ahead of the client whose me/sessions is measured, at every scale (the commonest)


def _session_client() -> Client:
    """A client with a login and UPCOMING_SESSIONS sessions not yet ended (or as near as there is): the same
    me/sessions page at every scale. (It was the me/assignments client, whose sessions ahead differ by scale: 8
    against 2 on 2026-12-04, so the scale ratio compared four times the rows.)"""
    return _client_nearest(Count("sessions", filter=Q(sessions__ends_at__gt=timezone.now())), UPCOMING_SESSIONS)


def _year_client() -> Client:
    """A client with a login whose homework began a year ago or more (the one with the median number of
    completions among them, or the longest in care where none has a year): the record FHIR `$everything` reads."""
    first = Min("assignments__start_date")
    year_ago = timezone.localdate() - timedelta(days=365)
    clients = (
        Client.objects.filter(user__isnull=False)
        .annotate(since=first, done=Count("submissions"))
        .filter(since__isnull=False)
    )
    a_year = clients.filter(since__lte=year_ago).order_by("done", "id")
    if a_year.exists():
        return a_year[a_year.count() // 2]
    return clients.order_by("since", "id").first()


def _typical_case() -> Case:
    """An open case with a median number of notes (a case's notes list is one page)."""
    cases = Case.objects.filter(status=CaseStatus.OPEN).annotate(n=Count("notes")).order_by("n", "id")
    return cases[cases.count() // 2]


WEEK_SESSIONS = 70  # a full caseload's week (125 cases), the same at every scale: like is compared with like


def _week_clinician(week: dict) -> User:
    """A clinician (not a supervisor, who would see a team's) with WEEK_SESSIONS sessions this week, or as near as
    there is: the same page at every scale, so the scale ratio compares like with like."""
    this_week = Q(starts_at__gte=week["starts_after"], starts_at__lt=week["starts_before"])
    counts = (
        Session.objects.filter(this_week, clinician__role=Role.CLINICIAN)
        .values("clinician")
        .annotate(n=Count("pk"), distance=Func(Count("pk") - WEEK_SESSIONS, function="ABS"))
        .order_by("distance", "clinician")
    )
    return User.objects.get(pk=counts[0]["clinician"])


def _busiest_supervisor() -> User:
    return (
        User.objects.filter(role=Role.SUPERVISOR, is_active=True)
        .annotate(n=Count("supervisions_given"))
        .order_by("-n", "id")
        .first()
    )


def _supervisee_of(supervisor: User, cases: int | None = None) -> User:
    """The supervisor's supervisee whose report and submissions compare across scales: a clinician (a supervisee who
    supervises others too sees their caseloads as well: at scale 1 the pick was such a supervisor until 2026-12-04),
    the one whose caseload is closest to `cases` (the compared clinician's in the other practice), else the one with
    the median caseload."""
    supervisees = (
        selectors.supervisees_of(supervisor=supervisor)
        .filter(role=Role.CLINICIAN)
        .annotate(n=Count("cases"))
        .order_by("n", "id")
    )
    if cases is not None:
        return min(supervisees, key=lambda supervisee: abs(supervisee.n - cases))
    return supervisees[supervisees.count() // 2]


def _deep_cursor(supervisor: User) -> tuple[str, int]:
    """The cursor of page DEEP_PAGE of the supervisor's submissions (or the deepest page there is)."""
    visible = selectors.submissions_visible_to(user=supervisor).order_by("created_at", "id")
    total = visible.count()
    page = min(DEEP_PAGE, total // PAGE_SIZE)
    if page < 2:
        raise CommandError(f"{supervisor} sees {total} submissions: too few for a second page; generate a practice.")
    last_of_previous = visible.values_list("created_at", "id")[(page - 1) * PAGE_SIZE - 1 : (page - 1) * PAGE_SIZE]
    created_at, pk = last_of_previous[0]
    return _encode("n", created_at, pk), page


def _posting(application: OAuthApplication) -> list[dict]:
    """Clients with active homework on an open case, each with a valid completion to send again and again.

    The homework with the fewest submissions: a run adds a few hundred to each, and the next run picks others,
    so repeated runs do not measure an assignment no client could fill (progress reads its submissions)."""
    assignments = (
        HomeworkAssignment.objects.filter(status=AssignmentStatus.ACTIVE, case__status=CaseStatus.OPEN)
        .annotate(submitted=Count("submissions"))
        .select_related("exercise_version")
        .prefetch_related("assignees")
        .order_by("submitted", "id")[: POSTING_CLIENTS * 4]
    )
    posting, seen = [], set()
    for assignment in assignments:
        client = next((c for c in assignment.assignees.all() if c.user_id and c.pk not in seen), None)
        if client is None:
            continue
        seen.add(client.pk)
        body = {
            "assignment": str(assignment.pk),
            "completed_at": None,  # bench/run.py puts the current time in
            "responses": sample.responses(assignment.exercise_version.response_fields),
        }
        posting.append({"token": _token(client.user, "homework", application), "body": body})
        if len(posting) == POSTING_CLIENTS:
            break
    return posting


def _record(method: str, path: str, token: str, body=None) -> tuple[int, list[str]]:
    """Call the endpoint once in-process; the statements it ran, as sent (parameters inlined)."""
    http = HttpClient(HTTP_HOST="localhost")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    with CaptureQueriesContext(connection) as queries:
        if method == "GET":
            response = http.get(path, **headers)
        else:
            headers["HTTP_IDEMPOTENCY_KEY"] = secrets.token_hex(16)
            response = http.post(path, json.dumps(body), content_type="application/json", **headers)
    statements = [q["sql"] for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    return response.status_code, statements


class Command(BaseCommand):
    help = "Pick the benchmark's callers in a generated practice, issue their tokens and record the SQL (bench/)."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--report-cases", type=int, help="compare the report of the supervisee whose caseload is closest to this"
        )

    def handle(self, *args, out: Path, report_cases: int | None = None, **options):
        with transaction.atomic():
            application, _ = OAuthApplication.objects.get_or_create(
                name="bench",
                defaults={
                    "client_type": OAuthApplication.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": OAuthApplication.GRANT_CLIENT_CREDENTIALS,
                },
            )
            client = _busy_client()
            session_client = _session_client()
            year_client = _year_client()
            case = _typical_case()
            supervisor = _busiest_supervisor()
            cursor, page = _deep_cursor(supervisor)
            supervisee = _supervisee_of(supervisor, report_cases)
            monday = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            monday -= timedelta(days=monday.weekday())
            week = {"starts_after": monday.isoformat(), "starts_before": (monday + timedelta(days=7)).isoformat()}
            week_clinician = _week_clinician(week)
            tokens = {
                "client": _token(client.user, "homework", application),
                "session_client": _token(session_client.user, "homework", application),
                "year_client": _token(year_client.user, "homework", application),
                "week_clinician": _token(week_clinician, "clinical:read", application),
                "clinician": _token(case.clinician, "clinical:read", application),
                "supervisor": _token(supervisor, "clinical:read reports", application),
                "supervisee": _token(supervisee, "clinical:read", application),
            }
            posting = _posting(application)
        submissions = f"/api/v1/submissions/?page_size={PAGE_SIZE}"
        week_query = urlencode({**week, "page_size": WEEK_PAGE_SIZE})
        endpoints = {
            "me_assignments": ("GET", "/api/v1/me/assignments/", "client"),
            "case_detail": ("GET", f"/api/v1/cases/{case.pk}/", "clinician"),
            "case_notes": ("GET", f"/api/v1/notes/?case={case.pk}", "clinician"),
            "submissions_first": ("GET", submissions, "supervisor"),
            "submissions_deep": ("GET", f"{submissions}&cursor={cursor}", "supervisor"),
            # one clinician's caseload (the report's supervisee: the same size at every scale)
            "submissions_clinician": ("GET", submissions, "supervisee"),
            "outcomes_report": ("GET", "/api/v1/reports/outcomes/", "supervisor"),
            "clinician_week": ("GET", f"/api/v1/sessions/?{week_query}", "week_clinician"),
            "me_sessions": ("GET", "/api/v1/me/sessions/", "session_client"),
            "outcomes_report_one": ("GET", f"/api/v1/reports/outcomes/?clinician={supervisee.pk}", "supervisor"),
            # the client's own record as FHIR, a year of homework and more (fhir_r4)
            "fhir_everything": ("GET", f"/fhir/r4/Patient/{year_client.pk}/$everything", "year_client"),
        }
        plan = {"tokens": tokens, "posting": posting, "deep_page": page, "endpoints": {}, "statements": {}}
        for name, (method, path, caller) in endpoints.items():
            status, statements = _record(method, path, tokens[caller])
            if status != 200:
                raise RuntimeError(f"{name}: {method} {path} answered {status}")
            plan["endpoints"][name] = {"method": method, "path": path, "token": tokens[caller]}
            plan["statements"][name] = statements
        body = {**posting[0]["body"], "completed_at": timezone.now().isoformat()}
        status, statements = _record("POST", "/api/v1/submissions/", posting[0]["token"], body)
        if status != 201:
            raise RuntimeError(f"submission POST answered {status}")
        plan["statements"]["submission_post"] = statements
        plan["counts"] = {
            "submissions": HomeworkSubmission.objects.count(),
            "notes": ProgressNote.objects.count(),
            "case_notes": ProgressNote.objects.filter(case=case).count(),
            "client_assignments": HomeworkAssignment.objects.filter(assignees=client).count(),
            "client_active_assignments": client.n,
            "year_client_submissions": HomeworkSubmission.objects.filter(client=year_client).count(),
            "year_client_since": year_client.since.isoformat(),
            "supervised_clinicians": selectors.supervisees_of(supervisor=supervisor).count(),
            "report_cases": selectors.cases_visible_to(user=supervisor).count(),
            "supervisee_cases": Case.objects.filter(clinician=supervisee).count(),
            "sessions": Session.objects.count(),
            "clinician_week_sessions": Session.objects.filter(
                clinician=week_clinician, starts_at__gte=week["starts_after"], starts_at__lt=week["starts_before"]
            ).count(),
            "client_upcoming_sessions": selectors.upcoming_sessions_visible_to(user=session_client.user).count(),
        }
        out.write_text(json.dumps(plan, indent=1))
        self.stdout.write(f"bench plan written to {out}")
