"""The worker as an operated process: what /api/v1/health/ says of it (a real `manage.py procrastinate worker`
process, running or not), that it delivers committed events (its relay, then LISTEN/NOTIFY), and its
housekeeping: the jobs of a worker whose heartbeat stopped are retried, finished job rows are deleted after their
retention."""

import statistics
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from events.delivery import events_pending
from events.housekeeping import delete_old_jobs, retry_stalled_jobs
from events.models import Event, WebhookDelivery
from events.tasks import fan_out, relay
from tests.factories import ClientFactory

API = "/api/v1/"
pytestmark = pytest.mark.django_db(transaction=True)


def health(anonymous) -> dict:
    response = anonymous.get(f"{API}health/")
    assert response.status_code == 200, response.content  # degraded or not: only a database down is a 503
    return response.json()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def sql(query: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def open_case(api, clinician) -> str:
    client = ClientFactory(primary_clinician=clinician)
    response = api.post(f"{API}cases/", {"subject_type": "individual", "client": str(client.pk)})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_without_a_worker_health_is_degraded_and_still_answers_200(anonymous, clean_queue):
    assert health(anonymous) == {
        "status": "degraded",
        "database": "ok",
        "worker": {"live_workers": 0, "heartbeat_age_seconds": None, "queue_lag_seconds": 0.0},
    }


def test_a_running_worker_is_reported_and_relays_committed_events(
    anonymous, clean_queue, worker_process, call_as, clinician
):
    worker = worker_process()
    worker.wait_until_live(lambda: health(anonymous)["worker"]["live_workers"] == 1)
    body = health(anonymous)
    assert body["status"] == "ok"
    assert 0 <= body["worker"]["heartbeat_age_seconds"] < 30

    # Each request commits an event; the worker's relay (a periodic task, every second) hands it on. Timings are
    # printed, not asserted (a shared machine).
    api = call_as(clinician)
    waits = []
    for _ in range(3):
        open_case(api, clinician)
        committed = time.monotonic()
        wait_for(lambda: not events_pending(), 15, "the relay")
        waits.append(time.monotonic() - committed)
    print(f"commit to relayed: median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms")

    assert worker.stop() == 0  # SIGTERM: a clean shutdown unregisters the worker
    body = health(anonymous)
    # The worker's periodic deferrer may have queued the next relay tick just before it stopped: that job is due and
    # waits (a fraction of a second here), which is real lag, not an error.
    lag = body["worker"].pop("queue_lag_seconds")
    assert 0 <= lag < 30
    assert body == {
        "status": "degraded",
        "database": "ok",
        "worker": {"live_workers": 0, "heartbeat_age_seconds": None},
    }
    assert "Deferred" not in worker.log.read_text()  # procrastinate's INFO chatter stays out of the output


def test_a_due_job_waiting_over_60_seconds_makes_health_degraded(anonymous, clean_queue, worker_process, work):
    worker = worker_process("events", "webhooks")  # alive, but nobody serves the housekeeping queue
    worker.wait_until_live(lambda: health(anonymous)["worker"]["live_workers"] == 1)
    retry_stalled_jobs.configure(schedule_at=timezone.now() - timedelta(seconds=50)).defer(timestamp=0)
    assert health(anonymous)["status"] == "ok"  # waiting 50 s: within the limit

    retry_stalled_jobs.configure(schedule_at=timezone.now() - timedelta(seconds=90)).defer(timestamp=0)

    body = health(anonymous)
    assert body["status"] == "degraded"
    assert body["worker"]["live_workers"] == 1
    assert 90 <= body["worker"]["queue_lag_seconds"] < 100

    work(queues=("housekeeping",))  # a worker takes the queue: the lag is gone
    body = health(anonymous)
    assert body["status"] == "ok"
    assert body["worker"]["queue_lag_seconds"] < 1


def test_the_running_jobs_of_a_worker_whose_heartbeat_stopped_are_retried(
    call_as, clinician, receiver, work, clean_queue
):
    api = call_as(clinician)
    response = api.post(f"{API}webhooks/", {"url": receiver.url, "event_types": ["case.opened"]})
    assert response.status_code == 201, response.content
    open_case(api, clinician)
    open_case(api, clinician)
    work(queues=("events",))  # fanned out: two delivery jobs wait on the webhooks queue
    dead_job, live_job = ProcrastinateJob.objects.filter(task_name="events.deliver", status="todo").order_by("id")
    # What a SIGKILLed worker leaves: its job in `doing`, its heartbeat a minute old. The other worker is alive.
    [(dead,)] = sql(
        "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - %s) RETURNING id", [timedelta(minutes=1)]
    )
    [(alive,)] = sql("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")
    for job, worker in ((dead_job, dead), (live_job, alive)):
        sql("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE id = %s", [worker, job.pk])

    retry_stalled_jobs.defer(timestamp=0)
    work(queues=("housekeeping",))
    work(queues=("webhooks",))

    assert ProcrastinateJob.objects.get(pk=dead_job.pk).status == "succeeded"
    assert ProcrastinateJob.objects.get(pk=live_job.pk).status == "doing"  # its worker may still finish it
    delivered = WebhookDelivery.objects.get(pk=dead_job.args["delivery_id"])
    assert [r.headers["webhook-id"] for r in receiver.received] == [str(delivered.pk)]


def test_finished_jobs_are_deleted_after_their_retention_and_events_stay(call_as, clinician, work, clean_queue):
    api = call_as(clinician)
    open_case(api, clinician)
    open_case(api, clinician)
    for event in Event.objects.order_by("sequence"):
        fan_out.defer(event_id=str(event.pk))  # these two succeed
    fan_out.defer(event_id=str(uuid.uuid4()))  # no such event: these two fail
    fan_out.defer(event_id=str(uuid.uuid4()))
    relay_job = ProcrastinateJob.objects.get(pk=relay.defer(timestamp=0))
    work(queues=("events", "relay"))
    sql("UPDATE procrastinate_events SET at = now() - interval '2 hours' WHERE job_id = %s", [relay_job.pk])
    jobs = list(ProcrastinateJob.objects.filter(task_name="events.fan_out").order_by("-id")[:4])
    failed_31_days, failed_8_days, succeeded_6_days, succeeded_8_days = jobs
    assert [j.status for j in jobs] == ["failed", "failed", "succeeded", "succeeded"]
    for job, days in (
        (succeeded_8_days, 8),
        (succeeded_6_days, 6),
        (failed_8_days, 8),
        (failed_31_days, 31),
    ):
        sql("UPDATE procrastinate_events SET at = now() - make_interval(days => %s) WHERE job_id = %s", [days, job.pk])

    delete_old_jobs.defer(timestamp=0)
    work(queues=("housekeeping",))

    kept = set(ProcrastinateJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("pk", flat=True))
    assert kept == {succeeded_6_days.pk, failed_8_days.pk}
    assert not ProcrastinateJob.objects.filter(pk=relay_job.pk).exists()  # the relay's, one a second: an hour
    assert Event.objects.count() == 2  # the product's record is not the worker's to delete
