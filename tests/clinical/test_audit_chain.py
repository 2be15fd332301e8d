"""The audit trail in the database: append-only rows, a hash chain that `verify_audit` checks, and a chain
that stays intact when many transactions append at once."""

import io
import itertools
import threading
import time
import uuid

import pgtrigger
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import ProgrammingError, connection, transaction

from clinical.models import AuditEvent, GoalLifecycle, Role
from clinical.services import clients as client_services
from clinical.services import goals as goal_services
from kernel.audit import GENESIS_HASH, RequestContext, audit_append, audit_verify, event_hash, request_context
from tests.factories import CaseFactory, GoalFactory, UserFactory

TRIGGER = "kernel.AuditEvent:audit_is_append_only"


def record(actor, action="read", object_type="client", ids=None, detail=None):
    return audit_append(
        actor=actor, action=action, object_type=object_type, object_ids=ids or [uuid.uuid4()], detail=detail
    )


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def row_as_stored(event_id):
    return AuditEvent.objects.values().get(pk=event_id)


@pytest.fixture
def clinician(db):
    return UserFactory(role=Role.CLINICIAN)


@pytest.fixture
def chain(clinician):
    """Five events written by services and by the audit service itself, oldest first."""
    client = client_services.client_create(actor=clinician, given_name="Robin", family_name="Hale")
    goal = GoalFactory(case=CaseFactory(clinician=clinician), lifecycle_status=GoalLifecycle.PROPOSED)
    goal_services.goal_transition(actor=clinician, goal=goal, to=GoalLifecycle.ACTIVE)
    record(clinician, ids=[client.pk])
    with request_context(RequestContext(request_id="req-1", ip_address="192.0.2.10", user_agent="tests/1.0")):
        record(clinician, action="update", object_type="goal", ids=[goal.pk], detail={"fields": ["title"]})
    record(clinician, object_type="case", ids=[goal.case_id, uuid.uuid4()])
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == 5
    return events


# ---------------------------------------------------------------- what a row holds, and its link


def test_each_event_links_to_the_one_before(chain, clinician):
    assert chain[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(chain):
        assert event.prev_hash == previous.hash
    for event in chain:
        assert event.hash == event_hash(event)  # recomputed from the row as read back from the database
    assert [(e.action, e.object_type) for e in chain] == [
        ("create", "client"),
        ("transition", "goal"),
        ("read", "client"),
        ("update", "goal"),
        ("read", "case"),
    ]
    assert chain[1].detail == {"from": "proposed", "to": "active"}
    assert all(e.actor_id == clinician.pk and e.actor_role == "clinician" for e in chain)


def test_outside_a_request_the_context_is_empty_and_inside_it_is_recorded(chain):
    outside, inside = chain[2], chain[3]

    assert (outside.request_id, outside.ip_address, outside.user_agent) == ("", None, "")
    assert (inside.request_id, inside.ip_address, inside.user_agent) == ("req-1", "192.0.2.10", "tests/1.0")
    assert inside.detail == {"fields": ["title"]}


@pytest.mark.parametrize(
    ("offered", "stored"),
    [("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("::ffff:192.0.2.1", "::ffff:192.0.2.1"), ("10.0.0.1", "10.0.0.1")],
)
def test_addresses_are_hashed_as_stored_so_the_chain_verifies(clinician, offered, stored):
    with request_context(RequestContext(request_id="r", ip_address=offered, user_agent="x" * 400)):
        event = record(clinician)

    assert row_as_stored(event.pk)["ip_address"] == stored
    assert len(row_as_stored(event.pk)["user_agent"]) == 300
    assert audit_verify().ok


def test_a_rolled_back_event_leaves_no_gap_in_the_chain(clinician):
    first = record(clinician)

    def failing_change():
        with transaction.atomic():
            record(clinician, action="update")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    last = record(clinician)

    assert list(AuditEvent.objects.order_by("id").values_list("pk", flat=True)) == [first.pk, last.pk]
    assert last.prev_hash == first.hash
    assert audit_verify().ok


# ---------------------------------------------------------------- append-only


def _orm_update(event):
    AuditEvent.objects.filter(pk=event.pk).update(action="erased")


def _instance_save(event):
    event.action = "erased"
    event.save()


def _instance_delete(event):
    event.delete()


def _queryset_delete(event):
    AuditEvent.objects.filter(pk=event.pk).delete()


def _sql_update(event):
    raw("UPDATE clinical_auditevent SET action = 'erased' WHERE id = %s", [event.pk])


def _sql_update_all(event):
    raw("UPDATE clinical_auditevent SET user_agent = ''")


def _sql_delete(event):
    raw("DELETE FROM clinical_auditevent WHERE id = %s", [event.pk])


PROTECTED = "pgtrigger: Cannot update or delete rows from clinical_auditevent table"


@pytest.mark.parametrize(
    "change",
    [_orm_update, _instance_save, _sql_update, _sql_update_all, _instance_delete, _queryset_delete, _sql_delete],
)
def test_audit_rows_cannot_be_updated_or_deleted(chain, change):
    target = chain[2]
    before = list(AuditEvent.objects.order_by("id").values())

    with pytest.raises(ProgrammingError, match=PROTECTED), transaction.atomic():
        change(target)

    assert list(AuditEvent.objects.order_by("id").values()) == before
    assert audit_verify().ok


# ---------------------------------------------------------------- verify_audit


def test_an_intact_chain_verifies_and_the_command_says_ok(chain):
    report = audit_verify()

    assert report.ok
    assert (report.checked, report.broken_at, report.reason) == (5, None, "")
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    assert out.getvalue().splitlines()[0] == "OK: 5 audit events, chain intact"


def test_an_empty_trail_verifies(db):
    report = audit_verify()

    assert (report.ok, report.checked) == (True, 0)


def test_a_long_chain_verifies_across_batches(clinician):
    for _ in range(7):
        record(clinician)

    assert audit_verify(batch=3).checked == 7


def _command_failure():
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", stdout=io.StringIO())
    return str(failure.value)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "'read'"),
        ("object_type", "'note'"),
        ("object_ids", "ARRAY[]::uuid[]"),
        ("actor_role", "'admin'"),
        ("actor_id", "NULL"),
        ("request_id", "'another'"),
        ("ip_address", "'198.51.100.1'"),
        ("user_agent", "'forged'"),
        ("detail", """'{"fields": ["status"]}'::jsonb"""),
        ("occurred_at", "occurred_at - interval '1 day'"),
    ],
)
def test_an_altered_row_is_reported_as_altered(chain, column, value):
    target = chain[3]  # the update of a goal, from inside a request
    with pgtrigger.ignore(TRIGGER):
        raw(f"UPDATE clinical_auditevent SET {column} = {value} WHERE id = %s", [target.pk])
    assert row_as_stored(target.pk)[column] != getattr(target, column)

    report = audit_verify()

    assert not report.ok
    assert report.broken_at == target.pk
    assert report.checked == 3
    assert "altered" in report.reason
    message = _command_failure()
    assert f"broken at event {target.pk}:" in message
    assert "altered" in message


def test_a_deleted_middle_row_is_reported_at_the_next_row(chain):
    removed, following = chain[2], chain[3]
    with pgtrigger.ignore(TRIGGER):
        raw("DELETE FROM clinical_auditevent WHERE id = %s", [removed.pk])

    report = audit_verify()

    assert (report.ok, report.broken_at, report.checked) == (False, following.pk, 2)
    assert "missing" in report.reason
    message = _command_failure()
    assert f"broken at event {following.pk}:" in message
    assert "missing" in message


def test_a_deleted_first_row_is_reported_at_the_new_first_row(chain):
    with pgtrigger.ignore(TRIGGER):
        raw("DELETE FROM clinical_auditevent WHERE id = %s", [chain[0].pk])

    report = audit_verify()

    assert (report.broken_at, report.checked) == (chain[1].pk, 0)
    assert "missing" in report.reason


def test_an_altered_row_given_a_fresh_hash_breaks_the_next_link(chain):
    target = chain[1]
    target.action = "read"
    forged_hash = event_hash(target)
    with pgtrigger.ignore(TRIGGER):
        raw(
            "UPDATE clinical_auditevent SET action = 'read', hash = %s WHERE id = %s",
            [forged_hash, target.pk],
        )

    report = audit_verify()

    assert (report.broken_at, report.checked) == (chain[2].pk, 2)


def test_the_trigger_is_back_after_the_ignore_block(chain):
    with pgtrigger.ignore(TRIGGER):
        raw("UPDATE clinical_auditevent SET user_agent = 'x' WHERE id = %s", [chain[0].pk])

    with pytest.raises(ProgrammingError, match=PROTECTED), transaction.atomic():
        raw("UPDATE clinical_auditevent SET user_agent = 'y' WHERE id = %s", [chain[0].pk])
    assert row_as_stored(chain[0].pk)["user_agent"] == "x"


# ---------------------------------------------------------------- concurrent appends

WRITERS = 6  # the connection pool holds 8; the test's own connection takes one


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_intact_chain():
    actors = [UserFactory(role=Role.CLINICIAN) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    written, errors = {}, []

    def write(actor):
        try:
            with transaction.atomic():
                start.wait()
                written[actor.pk] = record(actor).pk
        except Exception as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(actor,)) for actor in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    events = list(AuditEvent.objects.order_by("id"))
    assert len(events) == WRITERS
    assert {e.actor_id: e.pk for e in events} == written
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
        assert event.occurred_at >= previous.occurred_at  # chain order, id order and time order agree
    report = audit_verify()
    assert (report.ok, report.checked) == (True, WRITERS)


def _waits_on_a_lock(pid, deadline_seconds=10.0) -> bool:
    """Whether backend `pid` is, or within the deadline becomes, blocked on a lock (polled, not timed)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return True
        time.sleep(0.05)
    return False


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_second_writer_waits_until_the_first_commits():
    first_actor, second_actor = UserFactory(role=Role.CLINICIAN), UserFactory(role=Role.CLINICIAN)
    first_recorded, release_first, second_started = threading.Event(), threading.Event(), threading.Event()
    second_pid, errors = [], []

    def first_writer():
        try:
            with transaction.atomic():
                record(first_actor)
                first_recorded.set()
                release_first.wait(20)
        except Exception as exc:
            errors.append(exc)
        finally:
            first_recorded.set()
            connection.close()

    def second_writer():
        try:
            with transaction.atomic():
                second_pid.append(_backend_pid())
                second_started.set()
                record(second_actor)
        except Exception as exc:
            errors.append(exc)
        finally:
            second_started.set()
            connection.close()

    first = threading.Thread(target=first_writer)
    second = threading.Thread(target=second_writer)
    first.start()
    try:
        assert first_recorded.wait(10)
        second.start()
        assert second_started.wait(10)
        assert second_pid, errors
        # While the first transaction is open, the second cannot read the chain's end and append after it.
        assert _waits_on_a_lock(second_pid[0]), "the second writer did not wait for the first"
        assert not AuditEvent.objects.exists()  # nothing committed yet
    finally:
        release_first.set()
        first.join(20)
        second.join(20)

    assert errors == []
    first_event, second_event = AuditEvent.objects.order_by("id")
    assert (first_event.actor_id, second_event.actor_id) == (first_actor.pk, second_actor.pk)
    assert second_event.prev_hash == first_event.hash
    assert audit_verify().ok


# ---------------------------------------------------------------- anchoring the head


def test_verify_prints_the_head_to_keep_outside_the_database(chain):
    out = io.StringIO()
    call_command("verify_audit", stdout=out)

    assert f"head: {chain[-1].pk}:{chain[-1].hash}" in out.getvalue()


def test_cutting_off_the_newest_rows_is_caught_by_an_anchor(chain):
    anchor = f"{chain[-1].pk}:{chain[-1].hash}"
    call_command("verify_audit", "--anchor", anchor, stdout=io.StringIO())  # intact: OK
    with pgtrigger.ignore(TRIGGER):
        raw("DELETE FROM clinical_auditevent WHERE id >= %s", [chain[3].pk])

    assert audit_verify().ok  # the chain alone cannot tell
    report = audit_verify(anchor=(chain[-1].pk, chain[-1].hash))
    assert (report.ok, report.broken_at) == (False, chain[-1].pk)
    assert "gone" in report.reason
    with pytest.raises(CommandError, match="anchored event is gone"):
        call_command("verify_audit", "--anchor", anchor, stdout=io.StringIO())


def test_an_anchor_with_another_hash_means_a_rewritten_chain(chain):
    report = audit_verify(anchor=(chain[2].pk, "f" * 64))

    assert (report.ok, report.broken_at) == (False, chain[2].pk)
    with pytest.raises(CommandError, match="ID:HASH"):
        call_command("verify_audit", "--anchor", "nonsense", stdout=io.StringIO())


def test_the_audit_trail_keeps_only_the_indexes_its_queries_read(db):
    """Every audited request writes into each index of the trail: no LIKE copy of the hash's index, no index on
    actor_id beside audit_by_actor, which leads with it (kernel migration 0002), and no index on the hash, a random
    key nothing looks up (kernel migration 0003): its uniqueness is the chain's, below."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'clinical_auditevent'")
        indexes = sorted(row[0] for row in cursor.fetchall())
    assert indexes == ["audit_by_actor", "audit_by_time", "audit_by_type", "clinical_auditevent_pkey"]


@pytest.mark.parametrize("copied", [0, 2, 4])
def test_a_copied_row_appended_again_breaks_the_chain_where_it_stands(chain, copied):
    """A row stored twice (the same hash, content and link, a later id) is caught by its link: its prev_hash is
    not the hash of the event before it."""
    original = row_as_stored(chain[copied].pk)
    columns = [name for name in original if name != "id"]
    raw(
        f"INSERT INTO clinical_auditevent ({', '.join(columns)}) SELECT {', '.join(columns)} "
        "FROM clinical_auditevent WHERE id = %s RETURNING id",
        [chain[copied].pk],
    )
    copy = AuditEvent.objects.order_by("-id").first()
    assert (copy.hash, copy.prev_hash) == (chain[copied].hash, chain[copied].prev_hash)

    report = audit_verify()

    assert (report.ok, report.broken_at, report.checked) == (False, copy.pk, len(chain))
    assert "missing" in report.reason
