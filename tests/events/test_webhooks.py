"""Webhooks end to end: a subscription through the API, a change, the real worker, a real receiver on this machine
that verifies every signature with the `standardwebhooks` library; retries under the same webhook-id; who receives
what, decided at delivery; SSRF refused and audited; secrets rotated with an overlap."""

import socket

import pytest
from standardwebhooks import Webhook

from clinical.models import AuditEvent, Case
from clinical.services import cases as case_services
from events.models import DeliveryStatus, Event, WebhookDelivery, WebhookSubscription
from tests.factories import ClientFactory

API = "/api/v1/"
pytestmark = pytest.mark.django_db(transaction=True)


def subscribe(api, url, event_types=("case.opened", "case.closed")):
    response = api.post(f"{API}webhooks/", {"url": url, "event_types": list(event_types)})
    assert response.status_code == 201, response.content
    return response.json()


def open_case(api, clinician):
    client = ClientFactory(primary_clinician=clinician)
    response = api.post(f"{API}cases/", {"subject_type": "individual", "client": str(client.pk)})
    assert response.status_code == 201, response.content
    return response.json()["id"]


def verified(secret: str, received) -> dict:
    """The payload, once the standardwebhooks library has verified its signature (it raises otherwise)."""
    return Webhook(secret).verify(received.body.decode(), received.headers)


def test_a_change_reaches_the_receiver_signed(call_as, clinician, receiver, work):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)

    case_id = open_case(api, clinician)
    work()

    [delivery] = receiver.received
    payload = verified(webhook["secret"], delivery)
    event = Event.objects.get()
    assert payload == {
        "type": "case.opened",
        "timestamp": event.occurred_at.isoformat(),
        "data": {
            "id": str(event.pk),
            "type": "case.opened",
            "version": 1,
            "sequence": event.sequence,
            "occurred_at": event.occurred_at.isoformat(),
            "about": {"case": case_id},
        },
    }
    listed = api.get(f"{API}webhooks/{webhook['id']}/deliveries/").json()["results"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [("succeeded", 1, 204)]
    assert delivery.headers["webhook-id"] == listed[0]["webhook_id"]
    assert "secret" not in api.get(f"{API}webhooks/{webhook['id']}/").json()  # shown once


def test_a_failing_receiver_gets_the_same_webhook_id_until_it_answers(call_as, clinician, receiver, work):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)
    receiver.statuses = [503, 500]

    open_case(api, clinician)
    work()

    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    for received in receiver.received:
        verified(webhook["secret"], received)
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    assert [a.status_code for a in delivery.attempt_log.order_by("number")] == [503, 500, 204]


def test_deliveries_that_use_up_their_retries_fail_and_can_be_redelivered(call_as, clinician, receiver, work):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)
    receiver.statuses = [500] * 4  # the test's schedule: three retries

    open_case(api, clinician)
    work()
    [delivery] = WebhookDelivery.objects.all()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 4)

    again = api.post(f"{API}webhooks/{webhook['id']}/redeliver/", {"delivery": str(delivery.pk)})
    work()

    assert again.status_code == 202
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 5)


def test_a_clinician_receives_nothing_about_a_case_moved_to_someone_else(
    call_as, clinician, other_clinician, admin_user, receiver, work
):
    api = call_as(clinician)
    subscribe(api, receiver.url)
    first = open_case(api, clinician)
    work(queues=["events"])  # fanned out: a delivery to the clinician, not yet tried
    second = open_case(api, clinician)
    # The admin moves the caseload before either is delivered: the first delivery is withheld when it is tried,
    # the second event is not offered to the first clinician at all, and nor is anything after.
    case_services.caseload_reassign(actor=admin_user, clinician=clinician, to=other_clinician)
    work()
    case_services.case_transition(
        actor=other_clinician, case=Case.objects.get(pk=first), action="close", closing_reason="moved on"
    )
    work()

    assert receiver.received == []
    assert [(d.event.about["case"], d.status) for d in WebhookDelivery.objects.all()] == [
        (first, DeliveryStatus.WITHHELD)
    ]
    assert Event.objects.filter(type="case.opened", case_id=second).exists()


def test_a_supervisor_receives_their_supervisees_events_and_the_admin_the_practices(
    call_as, clinician, supervisor, other_clinician, admin_user, receiver, work
):
    subscribe(call_as(supervisor), receiver.url + "/supervisor")
    subscribe(call_as(admin_user, ["admin"]), receiver.url + "/admin")
    subscribe(call_as(other_clinician), receiver.url + "/other")

    open_case(call_as(clinician), clinician)
    work()

    assert sorted(r.path for r in receiver.received) == ["/hooks/admin", "/hooks/supervisor"]


def test_a_ping_tries_the_receiver(call_as, clinician, receiver, work):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)

    ping = api.post(f"{API}webhooks/{webhook['id']}/ping/")
    work()

    assert ping.status_code == 202
    [received] = receiver.received
    assert verified(webhook["secret"], received) == {
        "type": "webhook.ping",
        "timestamp": received.json["timestamp"],
        "data": {"webhook": webhook["id"]},
    }
    assert received.headers["webhook-id"] == ping.json()["webhook_id"]


def test_a_rotated_secret_signs_beside_the_old_one_for_the_overlap(call_as, clinician, receiver, work):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)

    rotated = api.post(f"{API}webhooks/{webhook['id']}/rotate-secret/")
    open_case(api, clinician)
    work()

    assert rotated.status_code == 200
    assert rotated.json()["secret"] != webhook["secret"]
    [received] = receiver.received
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    verified(webhook["secret"], received)
    verified(rotated.json()["secret"], received)


# ---------------------------------------------------------------- no SSRF


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/hooks",
        "https://[::1]/hooks",
        "https://localhost/hooks",  # a name that resolves to loopback
        "http://hooks.example.com/",  # clear text outside DEBUG
        "https://user:pass@hooks.example.com/",
    ],
)
def test_targets_inside_a_private_network_are_refused_and_audited(call_as, clinician, url):
    response = call_as(clinician).post(f"{API}webhooks/", {"url": url, "event_types": ["case.opened"]})

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "webhook_target_refused"
    assert [e["field"] for e in response.json()["errors"]] == ["url"]
    assert not WebhookSubscription.objects.exists()
    [refusal] = AuditEvent.objects.filter(action="refuse", object_type="webhook")
    assert refusal.actor_id == clinician.pk
    assert refusal.detail["url"] == url


def test_a_receiver_that_later_resolves_inside_is_refused_at_delivery(call_as, clinician, receiver, work, settings):
    api = call_as(clinician)
    webhook = subscribe(api, receiver.url)
    settings.WEBHOOK_ALLOWED_TARGETS = []  # the same address, no longer allowed: as if the name moved inside

    open_case(api, clinician)
    work()

    assert receiver.received == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("refused:")
    assert AuditEvent.objects.filter(action="refuse", object_type="webhook", object_ids__contains=[webhook["id"]])


def test_a_redirect_is_not_followed(call_as, clinician, receiver, work):
    api = call_as(clinician)
    subscribe(api, receiver.url)
    receiver.statuses = [302]
    with socket.socket() as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(1)
        trap.settimeout(0.2)
        receiver.redirect_to = f"http://127.0.0.1:{trap.getsockname()[1]}/inside"

        open_case(api, clinician)
        work()

        with pytest.raises(TimeoutError):
            trap.accept()  # nobody followed the redirect
    attempts = WebhookDelivery.objects.get().attempt_log.order_by("number")
    assert attempts[0].status_code == 302


def test_only_staff_and_the_admin_subscribe(call_as, client_user):
    response = call_as(client_user, ["homework"]).post(
        f"{API}webhooks/", {"url": "https://hooks.example.com/", "event_types": ["case.opened"]}
    )

    assert response.status_code == 403


def test_a_clinician_cannot_see_or_change_another_ones_subscription(call_as, clinician, other_clinician, receiver):
    theirs = subscribe(call_as(other_clinician), receiver.url)
    api = call_as(clinician)

    assert api.get(f"{API}webhooks/{theirs['id']}/").status_code == 404
    assert api.post(f"{API}webhooks/{theirs['id']}/ping/").status_code == 404
    assert api.get(f"{API}webhooks/").json()["results"] == []


def test_the_readmes_receiver_verifies_and_prints_each_delivery(call_as, clinician, work, settings):
    """docs/examples/webhook_receiver.py, run as the README shows, against a subscription made as it shows."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.WEBHOOK_ALLOWED_TARGETS = [f"127.0.0.1:{port}"]
    api = call_as(clinician)
    webhook = subscribe(api, f"http://127.0.0.1:{port}/hooks")
    script = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"
    receiver = subprocess.Popen(
        [sys.executable, str(script), webhook["secret"], str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until it listens
            with socket.socket() as knock:
                if knock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        case_id = open_case(api, clinician)
        work()
    finally:
        receiver.terminate()
        printed, _ = receiver.communicate(timeout=20)

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    [line] = printed.splitlines()
    assert line.startswith(f"{delivery.pk} case.opened ")
    assert case_id in line
