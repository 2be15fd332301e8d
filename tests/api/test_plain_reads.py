"""The plain-row read path (api/viewsets.py `PlainShape`, `plain_actions`): case detail and list, a case's notes
and a note, the submission pages answer from `.values()` rows without their serializers. The serializers are the
contract, so for the same rows both must say the same, byte for byte once rendered: field order, dates and times,
UUIDs, nulls, nested addenda, the review a partner may not read; for every status, both partners, encrypted
fields."""

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.db.models import Prefetch
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.cases import CaseSerializer, CaseViewSet
from api.homework import SubmissionSerializer, SubmissionViewSet
from api.notes import ADDENDA_ORDER, GOALS_ORDER, AddendumSerializer, NoteSerializer, NoteViewSet
from api.renderers import JSONRenderer
from api.serializers import SessionSerializer, with_attendees
from api.sessions import MySessionSerializer
from api.viewsets import (
    _CALLER_SLOT,
    _RECORD_SLOT,
    CompiledGet,
    CompiledList,
    PlainShape,
    ResourceViewSet,
    compiled_get,
    compiled_lookup,
    plain_shape,
)
from clinical import selectors
from clinical.models import (
    CaseStatus,
    HomeworkSubmission,
    NoteAddendum,
    NoteFormat,
    NoteStatus,
    ProgressNote,
    Role,
    Session,
    SessionStatus,
    SubjectType,
    SubmissionStatus,
    TreatmentGoal,
)
from clinical.services import homework as homework_services
from clinical.services import notes as note_services
from clinical.services import sessions as session_services
from tests.factories import AddendumFactory, CaseFactory, GoalFactory, NoteFactory, UserFactory
from tests.factories.scenes import CoupleInCare
from tests.helpers import HOMEWORK, READ_WRITE

CASES, NOTES, SUBMISSIONS = "/api/v1/cases/", "/api/v1/notes/", "/api/v1/submissions/"
SESSIONS, MY_SESSIONS = "/api/v1/sessions/", "/api/v1/me/sessions/"


def rendered(data):
    """As the API writes it (api/renderers.py), read back."""
    return json.loads(JSONRenderer().render(data))


def described(serializer_class, instances, user):
    """What the serializer says of these model objects, for this caller."""
    context = {"request": SimpleNamespace(user=user)}
    return rendered(serializer_class(instances, many=True, context=context).data)


def assert_same(answered: list, expected: list):
    """The same answer, key order included (what `==` on dicts does not compare): the same bytes once rendered."""
    assert answered == expected
    assert JSONRenderer().render(answered) == JSONRenderer().render(expected)


def results(response) -> list:
    assert response.status_code == 200, response.content
    return response.json()["results"]


# ---------------------------------------------------------------- the shape itself


def test_a_shape_keeps_the_serializers_fields_in_order():
    assert [name for name, _, _ in plain_shape(NoteSerializer, ("goals_addressed", "addenda")).fields] == list(
        NoteSerializer().fields
    )
    assert plain_shape(CaseSerializer) is plain_shape(CaseSerializer)  # built once per process


def test_a_nested_or_computed_field_must_be_named():
    with pytest.raises(TypeError, match="addenda"):
        PlainShape(NoteSerializer, ("goals_addressed",))
    with pytest.raises(TypeError, match="feedback"):
        PlainShape(SubmissionSerializer)


# ---------------------------------------------------------------- cases


@pytest.fixture
def cases(care, clinician):
    """Every subject type and status, nulls (no closing date, no concerns) and values (a closed case)."""
    today = timezone.localdate()
    return [
        care.case,  # a couple case: no client
        CaseFactory(clinician=clinician, presenting_concerns=[]),
        CaseFactory(clinician=clinician, status=CaseStatus.PAUSED, presenting_concerns=["trust", "emotional_intimacy"]),
        CaseFactory(
            clinician=clinician,
            status=CaseStatus.CLOSED,
            opened_on=today - timedelta(days=90),
            closed_on=today,
            closing_reason="Goals met; both partners agreed to end.",
        ),
    ]


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_cases_answer_what_the_serializer_says(who, call_as, request, cases):
    user = request.getfixturevalue(who)
    caller = call_as(user, READ_WRITE)
    listed = results(caller.get(f"{CASES}?page_size=200"))

    assert {row["id"] for row in listed} == {str(case.pk) for case in cases}
    by_id = {str(case.pk): type(case).objects.get(pk=case.pk) for case in cases}
    assert_same(listed, described(CaseSerializer, [by_id[row["id"]] for row in listed], user))
    assert {row["subject_type"] for row in listed} == set(SubjectType.values)
    assert {row["status"] for row in listed} == set(CaseStatus.values)
    for row in listed:
        response = caller.get(f"{CASES}{row['id']}/")
        assert response.status_code == 200
        assert response.json() == row
        assert response["ETag"] == f'"{row["version"]}"'


# ---------------------------------------------------------------- notes


@pytest.fixture
def notes(care, clinician, supervisor):
    """Every status and format, goals addressed and none, addenda, a co-signature, a retired note, null sections."""
    goals = [GoalFactory(case=care.case) for _ in range(3)]
    yesterday = timezone.localdate() - timedelta(days=1)
    draft = NoteFactory(case=care.case, sections=None)
    goals_note = note_services.note_create(
        actor=clinician,
        case=care.case,
        session_date=yesterday,
        format=NoteFormat.NARRATIVE,
        sections={"body": "Small promises, kept; one broken and named."},
        goals_addressed=[goals[2], goals[0]],
    )
    signed = note_services.note_create(
        actor=clinician,
        case=care.case,
        session_date=yesterday,
        format=NoteFormat.DAP,
        sections={"data": "Shared a fear.", "assessment": "Opening up.", "plan": "One small vulnerability."},
        goals_addressed=[goals[1]],
    )
    signed = note_services.note_sign(actor=clinician, note=signed)
    if not signed.cosign_required:
        signed.cosign_required = True
        signed.save(update_fields=["cosign_required"])
    note_services.note_cosign(actor=supervisor, note=signed)
    note_services.note_add_addendum(actor=clinician, note=signed, text="Partner B called after the session.")
    note_services.note_add_addendum(actor=supervisor, note=signed, text="Reviewed in supervision.")
    retired = NoteFactory(case=care.case, status=NoteStatus.SIGNED, signed_at=timezone.now())
    note_services.note_enter_in_error(actor=clinician, note=retired, reason="Written on the wrong case.")
    return [draft, goals_note, signed, retired]


def note_objects(ids):
    goals = Prefetch("goals_addressed", queryset=TreatmentGoal.objects.order_by(*GOALS_ORDER))
    addenda = Prefetch("addenda", queryset=NoteAddendum.objects.order_by(*ADDENDA_ORDER))
    by_id = {str(n.pk): n for n in ProgressNote.objects.filter(pk__in=ids).prefetch_related(goals, addenda)}
    return [by_id[i] for i in ids]


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_a_cases_notes_answer_what_the_serializer_says(who, call_as, request, care, notes):
    user = request.getfixturevalue(who)
    caller = call_as(user, READ_WRITE)
    listed = results(caller.get(NOTES, {"case": str(care.case.pk)}))

    assert [row["id"] for row in listed] == [str(note.pk) for note in notes]  # (created_at, id)
    expected = described(NoteSerializer, note_objects([row["id"] for row in listed]), user)
    assert_same(listed, expected)
    assert {row["status"] for row in listed} == {NoteStatus.DRAFT, NoteStatus.SIGNED, NoteStatus.ENTERED_IN_ERROR}
    assert listed[0]["sections"] is None
    signed = listed[2]
    assert signed["cosigned_by"] is not None
    assert signed["signed_at"].endswith("Z")
    assert [a["text"] for a in signed["addenda"]] == ["Partner B called after the session.", "Reviewed in supervision."]
    assert list(signed["addenda"][0]) == list(AddendumSerializer().fields)
    for row in listed:
        response = caller.get(f"{NOTES}{row['id']}/")
        assert response.status_code == 200
        assert response.json() == row
        assert response["ETag"] == f'"{row["version"]}"'


# ---------------------------------------------------------------- submissions


@pytest.fixture
def submissions(care, catalog, clinician):
    """Both partners, shared and not, current and amended, reviewed and not."""
    from tests.api.test_submissions import answers, recorded

    assignment = care.assign(catalog)
    a_first = recorded(care.a_user, assignment)
    homework_services.submission_amend(actor=care.a_user, submission=a_first, responses=answers(felt_natural=9))
    b_shared = recorded(care.b_user, assignment, shared=True)
    homework_services.submission_review(actor=clinician, submission=b_shared, feedback="Kind and concrete.")
    recorded(care.b_user, assignment)  # not shared: partner a never sees it
    a_shared = recorded(care.a_user, assignment, shared=True, responses=answers(partner_response=...))
    homework_services.submission_review(actor=clinician, submission=a_shared, feedback="Well noticed.")
    return assignment


def submission_objects(ids):
    by_id = {str(s.pk): s for s in HomeworkSubmission.objects.filter(pk__in=ids).select_related("client")}
    return [by_id[i] for i in ids]


@pytest.mark.parametrize(
    ("who", "scopes", "seen"),
    [("clinician", READ_WRITE, 5), ("supervisor", READ_WRITE, 5), ("a", HOMEWORK, 4), ("b", HOMEWORK, 3)],
)
def test_submission_pages_answer_what_the_serializer_says(who, scopes, seen, call_as, request, care, submissions):
    user = {"a": care.a_user, "b": care.b_user}.get(who) or request.getfixturevalue(who)
    caller = call_as(user, scopes)

    listed = results(caller.get(SUBMISSIONS, {"page_size": 200}))
    assert len(listed) == seen
    assert_same(listed, described(SubmissionSerializer, submission_objects([row["id"] for row in listed]), user))
    if scopes == READ_WRITE:
        assert {row["status"] for row in listed} == set(SubmissionStatus.values)

    # Page by page (keyset cursors, both directions), and with filters: the same rows, the same answers.
    pages, response = [], caller.get(SUBMISSIONS, {"page_size": 2})
    while True:
        body = response.json()
        pages.extend(body["results"])
        if body["next"] is None:
            break
        response = caller.get(body["next"])
    assert pages == listed
    back = caller.get(body["previous"]).json()["results"] if body["previous"] else []
    assert back == listed[-len(body["results"]) - len(back) : -len(body["results"])]
    current = results(caller.get(SUBMISSIONS, {"status": "current", "assignment": str(submissions.pk)}))
    assert current == [row for row in listed if row["status"] == "current"]


def test_a_partner_never_reads_the_review_of_a_shared_submission(as_a, as_b, care, submissions):
    mine, theirs = (
        [row for row in results(caller.get(SUBMISSIONS)) if row["feedback"] is not None] for caller in (as_a, as_b)
    )
    clients = {str(care.a.pk): "a", str(care.b.pk): "b"}

    assert [(clients[row["client"]], row["feedback"]) for row in mine] == [("a", "Well noticed.")]
    assert [(clients[row["client"]], row["feedback"]) for row in theirs] == [("b", "Kind and concrete.")]


def test_the_review_is_decrypted_only_where_it_is_shown(as_a, care, submissions, monkeypatch):
    field = HomeworkSubmission._meta.get_field("feedback")
    decrypted = []
    original = type(field).from_db_value

    def counting(self, value, expression, connection):
        text = original(self, value, expression, connection)
        if self is field and text is not None:
            decrypted.append(text)
        return text

    monkeypatch.setattr(type(field), "from_db_value", counting)
    results(as_a.get(SUBMISSIONS))

    assert decrypted == ["Well noticed."]  # partner b's review is in the rows, still encrypted


def test_plain_reads_make_the_same_queries_for_one_and_many_rows(api, care, catalog, clinician, count_queries):
    from tests.api.test_submissions import recorded

    assignment = care.assign(catalog)
    first = NoteFactory(case=care.case, status=NoteStatus.SIGNED, signed_at=timezone.now())
    recorded(care.a_user, assignment)

    def reads():
        return [
            count_queries(lambda: api.get(NOTES, {"case": str(care.case.pk)})),
            count_queries(lambda: api.get(SUBMISSIONS)),
            count_queries(lambda: api.get(CASES)),
            count_queries(lambda: api.get(f"{NOTES}{first.pk}/")),
        ]

    one = reads()
    for _ in range(5):
        note = NoteFactory(case=care.case, status=NoteStatus.SIGNED, signed_at=timezone.now())
        note.goals_addressed.add(GoalFactory(case=care.case))
        AddendumFactory(note=note)
        recorded(care.b_user, assignment)
        CaseFactory(clinician=clinician)
    first.goals_addressed.add(GoalFactory(case=care.case))
    AddendumFactory(note=first, author=clinician)

    assert reads() == one


# ---------------------------------------------------------------- the lookup compiled once per process and role


def view_for(viewset, user, pk):
    view = viewset()
    view.action, view.kwargs, view.format_kwarg = "retrieve", {"pk": str(pk)}, None
    view.request = Request(APIRequestFactory().get("/"))
    view.request.user = user
    return view


@pytest.mark.parametrize("viewset", [CaseViewSet, NoteViewSet])
def test_the_compiled_lookup_is_what_the_orm_compiles_for_the_real_caller(viewset, clinician, supervisor, care, notes):
    for user in (clinician, supervisor):
        record = care.case if viewset is CaseViewSet else notes[2]
        statement = compiled_lookup(view_for(viewset, user, record.pk))
        fresh = view_for(viewset, user, record.pk).plain_queryset().filter(pk=record.pk)[:2]
        sql, params = fresh.query.sql_with_params()

        assert statement is not None
        assert statement.sql == sql
        assert [
            user.pk if p is _CALLER_SLOT else record.pk if p is _RECORD_SLOT else p for p in statement.params
        ] == list(params)
        assert statement.row(user, record.pk) == fresh.get()


def test_the_compiled_get_is_what_the_orm_compiles_and_builds_for_the_real_caller(care, assignment, clinician):
    """The submission POST's assignment lookup (`compiled_get`): the same statement as the ORM's for the caller, the
    same instance with its case, exercise version and assignees; nothing for a caller it was not given to."""
    for user in (care.a_user, care.b_user, clinician):
        statement = CompiledGet(selectors.assignments_to_submit_to, user)
        fresh = selectors.assignments_to_submit_to(user=user).filter(pk=assignment.pk)[:2]
        sql, params = fresh.query.sql_with_params()
        found, expected = statement.get(user, assignment.pk), fresh.get()

        assert statement.sql == sql
        assert [
            user.pk if p is _CALLER_SLOT else assignment.pk if p is _RECORD_SLOT else p for p in statement.params
        ] == list(params)
        assert [getattr(found, f.attname) for f in type(found)._meta.concrete_fields] == [
            getattr(expected, f.attname) for f in type(expected)._meta.concrete_fields
        ]
        assert found.case == expected.case
        assert found.case.status == expected.case.status
        assert found.exercise_version.response_fields == expected.exercise_version.response_fields
        assert (found.assignee_clients, found.assignee_users) == (expected.assignee_clients, expected.assignee_users)
        assert set(found.assignee_users) == {care.a_user.pk, care.b_user.pk}
    outsider = UserFactory(role=Role.CLIENT)
    assert CompiledGet(selectors.assignments_to_submit_to, outsider).get(outsider, assignment.pk) is None
    assert compiled_get("test", selectors.assignments_to_submit_to, care.a_user, uuid.uuid4()) is None


def test_a_lookup_whose_selector_reads_the_clock_is_not_compiled(care, assignment):
    """Every compiled statement refuses a moment of compiling (`_frozen`): the lookup then takes the ORM path."""

    def started(*, user):
        return selectors.assignments_to_submit_to(user=user).filter(created_at__lte=timezone.now())

    with pytest.raises(TypeError, match="depends on more than the caller's role"):
        CompiledGet(started, care.a_user)
    assert compiled_get("started", started, care.a_user, assignment.pk) == assignment


def test_a_plain_retrieve_answers_404_outside_scope_and_for_a_malformed_id(api, other_api, care, notes):
    for path in (f"{CASES}{care.case.pk}/", f"{NOTES}{notes[0].pk}/"):
        assert api.get(path).status_code == 200
        assert other_api.get(path).status_code == 404
    assert api.get(f"{CASES}not-a-uuid/").status_code == 404
    assert api.get(f"{NOTES}{uuid.uuid4()}/").status_code == 404


# ---------------------------------------------------------------- list statements compiled once per shape


def _statements(caller, path):
    """The answer, and the statements it ran but the audit trail's (its times and hashes differ per request) and the
    token's (read once, or each time where the token cache is not listening)."""
    with CaptureQueriesContext(connection) as queries:
        response = caller.get(path)
    skipped = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
    sent = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(skipped)]
    return response, [sql for sql in sent if "audit" not in sql and "oauth2_provider" not in sql]


def assert_compiled_as_the_orm(caller, path, monkeypatch, *, compiled=True):
    """The same answer, byte for byte, and the same statements, parameters included, by the list statement compiled
    once per shape (`CompiledList`) and by the ORM path; `compiled`: whether the compiled statement answered."""
    caller.get(path)  # the token cached and the statement compiled: what follows is the steady state
    ran = []
    original = CompiledList.rows

    def counted(self, *args):
        ran.append(self)
        return original(self, *args)

    with monkeypatch.context() as patched:
        patched.setattr(CompiledList, "rows", counted)
        fast, fast_sql = _statements(caller, path)
    with monkeypatch.context() as patched:
        patched.setattr(ResourceViewSet, "page_compiled", lambda self, build: None)
        slow, slow_sql = _statements(caller, path)
    assert bool(ran) is compiled, path
    assert (fast.status_code, fast["Content-Type"]) == (slow.status_code, slow["Content-Type"]), path
    assert fast.content == slow.content, path
    assert fast_sql == slow_sql, path
    return fast


def walked(caller, path, monkeypatch, *, compiled=True):
    """Every page from `path` on, forth and back, each answered alike both ways."""
    response = assert_compiled_as_the_orm(caller, path, monkeypatch, compiled=compiled)
    seen, links = [path], [response.json()["next"]]
    while links:
        link = links.pop()
        if link is None or link in seen:
            continue
        seen.append(link)
        body = assert_compiled_as_the_orm(caller, link, monkeypatch, compiled=compiled).json()
        links += [body["next"], body["previous"]]
    return seen


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_a_compiled_notes_list_answers_as_the_orm(who, call_as, request, care, notes, other_clinician, monkeypatch):
    caller = call_as(request.getfixturevalue(who), READ_WRITE)
    other_case = CaseFactory(clinician=other_clinician)
    case = care.case.pk
    for query in ("", f"case={case}", "status=draft", f"case={case}&status=draft", f"author={notes[0].author_id}"):
        assert len(walked(caller, f"{NOTES}?page_size=1&{query}", monkeypatch)) > 1
        assert_compiled_as_the_orm(caller, f"{NOTES}?{query}", monkeypatch)
    # An id as the filter's form cleans it: spaces around it, capitals, no hyphens.
    for spelt in (f"%20{case}%20", str(case).upper(), case.hex):
        assert_compiled_as_the_orm(caller, f"{NOTES}?case={spelt}", monkeypatch)
    # Refusals are the filterset's own, or the same 404 for a case beyond reach (no page read).
    for query in (f"case={other_case.pk}", f"case={uuid.uuid4()}&status=signed"):
        assert assert_compiled_as_the_orm(caller, f"{NOTES}?{query}", monkeypatch, compiled=False).status_code == 404
    for query in ("case=nope", "case=", "status=bogus", f"case={case}&case={case}", "page_size=0", "cursor=x"):
        assert_compiled_as_the_orm(caller, f"{NOTES}?{query}", monkeypatch, compiled=False)


@pytest.mark.parametrize(("who", "scopes"), [("clinician", READ_WRITE), ("supervisor", READ_WRITE), ("a", HOMEWORK)])
def test_compiled_submission_pages_answer_as_the_orm(who, scopes, call_as, request, care, submissions, monkeypatch):
    user = {"a": care.a_user}.get(who) or request.getfixturevalue(who)
    caller = call_as(user, scopes)
    for query in ("", "status=current", f"assignment={submissions.pk}", f"client={care.b.pk}&status=amended"):
        # A clinician's unfiltered pages are found case by case instead (the next test).
        compiled = bool(query) or who != "clinician"
        walked(caller, f"{SUBMISSIONS}?page_size=1&{query}", monkeypatch, compiled=compiled)
    assert_compiled_as_the_orm(caller, f"{SUBMISSIONS}?assignment={uuid.uuid4()}", monkeypatch, compiled=False)


def pages(caller, path) -> list[bytes]:
    """Every page from `path` forth, then every page back from the last: their answers as sent."""
    answers, link = [], path
    while link:
        response = caller.get(link)
        assert response.status_code == 200, response.content
        answers.append(response.content)
        body = response.json()
        link, back = body["next"], body["previous"]
    while back:
        response = caller.get(back)
        answers.append(response.content)
        back = response.json()["previous"]
    return answers


@pytest.mark.parametrize(("who", "case_by_case"), [("clinician", True), ("supervisor", False)])
def test_a_caseload_is_paged_case_by_case_as_walking_pages_it(
    who, case_by_case, call_as, request, care, catalog, submissions, clinician, other_clinician, monkeypatch
):
    """A clinician's unfiltered submissions are found case by case (`page_ids`: selectors.submission_page_ids): every
    page, forth and back, the same bytes as walking every submission in order keeping the caller's, with the same
    count of statements for a page of 1 and of 50; another clinician's case is in neither; over CASE_BY_CASE_MAX
    cases the clinician walks, and a supervisor always does."""
    elsewhere = _caseloads(care, catalog, submissions, clinician, other_clinician)
    caller = call_as(request.getfixturevalue(who), READ_WRITE)
    found = []
    original = selectors._page_by_case_statement

    def counted(*args):
        found.append(args)
        return original(*args)

    with monkeypatch.context() as patched:
        patched.setattr(selectors, "_page_by_case_statement", counted)
        with CaptureQueriesContext(connection) as queries:
            by_case = pages(caller, f"{SUBMISSIONS}?page_size=2")
        sent = [query["sql"] for query in queries.captured_queries]  # read now: later requests reset the log
        with CaptureQueriesContext(connection) as one:
            caller.get(f"{SUBMISSIONS}?page_size=1")
        with CaptureQueriesContext(connection) as many:
            listed = caller.get(f"{SUBMISSIONS}?page_size=50").json()["results"]
        counts = len(one), len(many)  # read now, as `sent`
    with monkeypatch.context() as patched:
        patched.setattr(selectors, "CASE_BY_CASE_MAX", 1)
        walking = pages(caller, f"{SUBMISSIONS}?page_size=2")

    if case_by_case:
        assert {(False, False), (False, True), (True, True)} <= set(found)  # the first page, forth, back
        # the page is read by the ids found, not walked again (`walk_first_roles`)
        assert any("LATERAL" in sql for sql in sent)
        assert not any("ANY(ARRAY" in sql for sql in sent)
    else:
        assert found == []
    assert len(by_case) > 4
    assert by_case == walking
    assert counts[0] == counts[1] > 0
    assert {row["id"] for row in listed} == _seen_beside(elsewhere)


def _caseloads(care, catalog, submissions, clinician, other_clinician):
    """A second case of the clinician's and one of another clinician's, their submissions between the first's;
    returns the other clinician's."""
    from tests.api.test_submissions import recorded

    second, elsewhere = CoupleInCare(clinician), CoupleInCare(other_clinician)
    homework = [(second.a_user, second.assign(catalog)), (elsewhere.a_user, elsewhere.assign(catalog))]
    for _ in range(3):
        for user, assignment in [*homework, (care.b_user, submissions)]:
            recorded(user, assignment)
    return elsewhere


def _seen_beside(elsewhere) -> set:
    """The ids of every submission but those of the other clinician's case."""
    return {str(pk) for pk in HomeworkSubmission.objects.exclude(case=elsewhere.case).values_list("pk", flat=True)}


@pytest.mark.parametrize("who", ["supervisor", "clinician"])
def test_a_team_walks_the_ids_it_sees_first_and_pages_as_walking_its_rows(
    who, call_as, request, care, catalog, submissions, clinician, other_clinician, monkeypatch
):
    """A supervisor's unfiltered submissions, and a caseload's over CASE_BY_CASE_MAX, walk the ids the scope keeps
    first and read the page's rows by those ids, in one statement (`walk_first_roles`): every page, forth and
    back, the same bytes as walking the rows themselves, the same count of statements for a page of 1 and of 50,
    the other clinician's case in neither. A filtered list walks its rows."""
    elsewhere = _caseloads(care, catalog, submissions, clinician, other_clinician)
    monkeypatch.setattr(selectors, "CASE_BY_CASE_MAX", 1)
    caller = call_as(request.getfixturevalue(who), READ_WRITE)

    def statements(path):
        with CaptureQueriesContext(connection) as queries:
            answered = pages(caller, path)
        return answered, [q["sql"] for q in queries.captured_queries if "homeworksubmission" in q["sql"]]

    first, sent = statements(f"{SUBMISSIONS}?page_size=2")
    assert len(first) > 4
    assert len(sent) == len(first)  # one statement a page
    assert all(sql.count(" = ANY(ARRAY(SELECT ") == 1 for sql in sent), sent
    with CaptureQueriesContext(connection) as one:
        caller.get(f"{SUBMISSIONS}?page_size=1")
    with CaptureQueriesContext(connection) as many:
        listed = caller.get(f"{SUBMISSIONS}?page_size=50").json()["results"]
    assert len(one) == len(many) > 0
    assert {row["id"] for row in listed} == _seen_beside(elsewhere)
    filtered, filtered_sent = statements(f"{SUBMISSIONS}?page_size=2&status=current")
    assert len(filtered) > 4
    assert not any("ANY(ARRAY" in sql for sql in filtered_sent)

    with monkeypatch.context() as patched:
        patched.setattr(SubmissionViewSet, "walk_first_roles", ())
        rows, walked_sent = statements(f"{SUBMISSIONS}?page_size=2")
    assert len(walked_sent) == len(rows)
    assert not any("ANY(ARRAY" in sql for sql in walked_sent)
    assert first == rows


def test_compiled_me_assignments_and_cases_answer_as_the_orm(call_as, api, supervisor, care, catalog, monkeypatch):
    care.assign(catalog)
    care.assign(catalog)
    app = call_as(care.a_user, HOMEWORK)
    walked(app, "/api/v1/me/assignments/?page_size=1", monkeypatch)
    # Delta sync reads every status: the ORM path answers it.
    delta = "/api/v1/me/assignments/?updated_since=2000-01-01T00:00:00Z"
    assert_compiled_as_the_orm(app, delta, monkeypatch, compiled=False)
    CaseFactory(clinician=care.clinician)
    for caller in (api, call_as(supervisor, READ_WRITE)):
        walked(caller, f"{CASES}?page_size=1", monkeypatch)
        listed = assert_compiled_as_the_orm(caller, f"{CASES}?status=open&couple={care.case.couple_id}", monkeypatch)
        assert [row["id"] for row in listed.json()["results"]] == [str(care.case.pk)]


# ---------------------------------------------------------------- sessions


@pytest.fixture
def sessions(care, clinician):
    """Every status and both kinds: joint sessions with both partners, an individual one with partner b alone, a
    blank and a set location, a reason; past ones and upcoming ones."""
    now = timezone.now().replace(second=0, microsecond=0)

    def book(hours, **extra):
        starts = now + timedelta(hours=hours)
        return session_services.session_create(
            actor=clinician,
            case=care.case,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            modality=extra.pop("modality", "video"),
            **extra,
        )

    made = [
        book(-100, location="https://video.example/room"),
        book(-80, modality="in_person", kind="individual", partner=care.b, location="Room 2"),
        book(-60),
        book(-40),
        book(-20),
        book(30, modality="phone"),
        book(50, kind="individual", partner=care.a),
    ]
    for session, to in zip(made, ("attended", "attended", "cancelled", "late_cancelled", "no_show"), strict=False):
        session_services.session_transition(
            actor=clinician, session=session, to=to, reason="" if to == "attended" else "Ill."
        )
    return made


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_sessions_answer_what_the_serializer_says(who, call_as, request, care, sessions):
    user = request.getfixturevalue(who)
    caller = call_as(user, READ_WRITE)
    listed = results(caller.get(SESSIONS, {"page_size": 200}))

    assert [row["id"] for row in listed] == [str(s.pk) for s in sessions]  # by start time
    objects = {str(s.pk): s for s in with_attendees(Session.objects.filter(pk__in=[s.pk for s in sessions]))}
    assert_same(listed, described(SessionSerializer, [objects[row["id"]] for row in listed], user))
    assert {row["status"] for row in listed} == set(SessionStatus.values)
    assert [len(row["attendees"]) for row in listed] == [2, 1, 2, 2, 2, 2, 1]
    for row in listed:
        response = caller.get(f"{SESSIONS}{row['id']}/")
        assert response.status_code == 200
        assert response.json() == row
        assert response["ETag"] == f'"{row["version"]}"'


@pytest.mark.parametrize("partner", ["a", "b"])
def test_my_sessions_answer_what_the_serializer_says(partner, call_as, care, sessions):
    user = getattr(care, f"{partner}_user")
    listed = results(call_as(user, HOMEWORK).get(MY_SESSIONS))

    mine = [s for s in sessions if s.ends_at > timezone.now() and s.partner_id in (None, getattr(care, partner).pk)]
    assert [row["id"] for row in listed] == [str(s.pk) for s in mine]
    assert_same(listed, described(MySessionSerializer, mine, user))


def test_session_lists_make_the_same_queries_for_one_and_many(api, call_as, care, clinician, count_queries):
    app = call_as(care.a_user, HOMEWORK)
    now = timezone.now().replace(second=0, microsecond=0)

    def book(hours):
        starts = now + timedelta(hours=hours)
        ends = starts + timedelta(minutes=50)
        return session_services.session_create(
            actor=clinician, case=care.case, starts_at=starts, ends_at=ends, modality="video"
        )

    book(1)
    reads = [
        lambda: api.get(SESSIONS),
        lambda: app.get(MY_SESSIONS),
        lambda: api.get(SESSIONS, {"status": "scheduled"}),
    ]
    one = [count_queries(read) for read in reads]
    for hours in range(2, 52):
        book(hours)
    assert [count_queries(read) for read in reads] == one


@pytest.mark.parametrize("who", ["clinician", "supervisor"])
def test_compiled_session_lists_answer_as_the_orm(who, call_as, request, care, sessions, monkeypatch):
    caller = call_as(request.getfixturevalue(who), READ_WRITE)
    monday = (timezone.now() - timedelta(days=3)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    later = (timezone.now() + timedelta(days=4)).replace(microsecond=0).isoformat().replace("+00:00", "%2B00:00")
    for query in ("", f"case={care.case.pk}", "status=attended", f"starts_after={monday}&starts_before={later}"):
        walked(caller, f"{SESSIONS}?page_size=1&{query}", monkeypatch)
    for query in ("starts_after=yesterday", "starts_after=2026-01-01", "status=done", f"case={uuid.uuid4()}"):
        assert_compiled_as_the_orm(caller, f"{SESSIONS}?{query}", monkeypatch, compiled=False)
    # me/sessions/ reads the clock (`kernel.clock`): compiled, with each request's moment (frozen here, so that both
    # paths send the same statement).
    app = call_as(care.a_user, HOMEWORK)
    with time_machine.travel(timezone.now(), tick=False):
        assert len(walked(app, f"{MY_SESSIONS}?page_size=1", monkeypatch)) > 1


def test_a_compiled_list_takes_each_requests_moment(call_as, care, sessions, monkeypatch):
    """The statement of me/sessions/ is compiled once, then answers by the clock of each request: later, the sessions
    that have ended since are gone, as the ORM path says."""
    app = call_as(care.a_user, HOMEWORK)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        before = assert_compiled_as_the_orm(app, MY_SESSIONS, monkeypatch).json()["results"]
    first_end = min(s.ends_at for s in sessions if s.ends_at > now and s.partner_id in (None, care.a.pk))
    with time_machine.travel(first_end + timedelta(minutes=1), tick=False):
        app = call_as(care.a_user, HOMEWORK)  # a day later: a fresh token
        after = assert_compiled_as_the_orm(app, MY_SESSIONS, monkeypatch).json()["results"]
    assert len(after) == len(before) - 1
    assert after == before[1:]


def test_a_list_whose_selector_reads_the_clock_is_not_compiled(care, sessions):
    """Compiled, a `timezone.now()` read by the selector itself would stay the moment of compiling: such a statement
    refuses to exist (the ORM path answers), while the same list by `kernel.clock.now()` compiles."""
    from api.sessions import MySessionsViewSet

    class FrozenViewSet(MySessionsViewSet):
        selector = staticmethod(
            lambda user: selectors.sessions_visible_to(user=user).filter(ends_at__gt=timezone.now())
        )

    for viewset, compiles in ((MySessionsViewSet, True), (FrozenViewSet, False)):
        view = viewset()
        view.action, view.kwargs, view.format_kwarg = "list", {}, None
        view.request = Request(APIRequestFactory().get("/"))
        view.request.user = care.a_user
        if compiles:
            assert CompiledList(view, view.plain_queryset, Session, {}, None).rows(care.a_user, {}, None, 20)
        else:
            with pytest.raises(TypeError, match="depends on more than its shape"):
                CompiledList(view, view.plain_queryset, Session, {}, None)
