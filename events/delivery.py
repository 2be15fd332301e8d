"""Webhook deliveries: who receives an event (decided when it is delivered, not when it happened), the signed
request (Standard Webhooks), the retry schedule, and when a subscription that keeps failing is disabled.

At least once: a delivery is recorded before it is sent and marked after the receiver answered, so a worker killed
in between sends it again (procrastinate's stalled-job recovery), under the same `webhook-id`; receivers drop
duplicates by that id.
"""

import base64
import json
import os
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from clinical.models import Role
from clinical.selectors import cases_visible_to, clients_visible_to
from kernel.audit import audit_append
from kernel.events import happened

from . import egress
from .models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery, WebhookSubscription

# Seconds after each failed attempt until the next one (each ±20 %, so that receivers coming back are not hit by
# every retry at once): nine attempts over about 22 hours. WEBHOOK_RETRY_DELAYS may set others.
RETRY_DELAYS = (10, 60, 5 * 60, 15 * 60, 60 * 60, 3 * 60 * 60, 6 * 60 * 60, 12 * 60 * 60)
JITTER = 0.2
# A subscription whose deliveries have failed, with no success in between, for this long is disabled when one more
# delivery has used up its retries; the practice's admins get a `webhook.disabled` event.
DISABLE_AFTER = timedelta(hours=24)
SECRET_PREFIX = "whsec_"


def retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_DELAYS", RETRY_DELAYS))


def new_secret() -> str:
    """32 random bytes, base64 (standard alphabet: the Python library drops `-` and `_`), Standard Webhooks style."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


def may_receive(subscription: WebhookSubscription, event: Event) -> bool:
    """Whether the subscription's owner may see what the event is about, now."""
    owner = subscription.owner
    if not owner.is_active:
        return False
    if owner.role == Role.ADMIN:
        return True  # the practice's subscription: ids only, every event
    if event.case_id is not None:
        return cases_visible_to(user=owner).filter(pk=event.case_id).exists()
    if event.client_id is not None:
        return clients_visible_to(user=owner).filter(pk=event.client_id).exists()
    return False  # events about the practice itself (webhook.disabled) go to its admins


RELAY_BATCH = 200


# The relay's mark, made when missing (a fresh database; a test's flush): nothing before it was ever recorded then.
MAKE_MARK = "INSERT INTO events_relaymark (id, transaction_id, sequence) VALUES (1, '0', 0) ON CONFLICT (id) DO NOTHING"
LOCK_MARK = "SELECT transaction_id::text, sequence FROM events_relaymark WHERE id = 1 FOR UPDATE SKIP LOCKED"
# The events past the mark whose transactions have ended: every transaction id below the oldest running one's has
# committed or rolled back, so no event can appear there later. Ids of still running transactions wait for the next
# run. (A long-running writing transaction holds the relay back for as long as it runs: docs/events.md.)
PAST_MARK = """
FROM events_event e LEFT JOIN events_relaymark m ON m.id = 1
WHERE (e.transaction_id, e.sequence) > (COALESCE(m.transaction_id, '0'), COALESCE(m.sequence, 0))
"""
ENDED = "AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
ANY_DUE = f"SELECT EXISTS (SELECT 1 {PAST_MARK} {ENDED})"
DUE = f"""
SELECT e.id::text, e.transaction_id::text, e.sequence {PAST_MARK} {ENDED}
ORDER BY e.transaction_id, e.sequence
LIMIT %s
"""
PENDING = f"SELECT e.id::text {PAST_MARK} ORDER BY e.transaction_id, e.sequence"


def relay_pending(*, batch: int = RELAY_BATCH) -> int:
    """Fan out the events of ended transactions past the relay's mark, in order, in batches of `batch`, each batch
    in one transaction that also moves the mark: a crash repeats a batch (event_fan_out makes each delivery once)
    and loses none. One relay works at a time: another that finds the mark locked leaves the work to it. Nothing is
    written when nothing is due (it runs every second). Returns how many events were relayed."""
    relayed = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(ANY_DUE)
            if not cursor.fetchone()[0]:
                return relayed
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(MAKE_MARK)
            cursor.execute(LOCK_MARK)
            if cursor.fetchone() is None:  # another relay holds the mark
                return relayed
            cursor.execute(DUE, [batch])
            due = cursor.fetchall()
            for event_id, _, _ in due:
                event_fan_out(event_id=event_id)
            if due:
                cursor.execute(
                    "UPDATE events_relaymark SET transaction_id = %s::xid8, sequence = %s WHERE id = 1", due[-1][1:]
                )
        relayed += len(due)
        if len(due) < batch:
            return relayed


def events_pending() -> list[str]:
    """The ids of events the relay has not handed on yet (their transactions may still be running), in its order."""
    with connection.cursor() as cursor:
        cursor.execute(PENDING)
        return [row[0] for row in cursor.fetchall()]


def event_fan_out(*, event_id: str) -> int:
    """A delivery for every active subscription that wants this event and whose owner may see it; how many."""
    from .tasks import deliver

    event = Event.objects.get(pk=event_id)
    made = 0
    subscriptions = WebhookSubscription.objects.filter(
        active=True, disabled_at__isnull=True, event_types__contains=[event.type]
    ).select_related("owner")
    for subscription in subscriptions:
        if not may_receive(subscription, event):
            continue
        with transaction.atomic():
            delivery, created = WebhookDelivery.objects.get_or_create(
                subscription=subscription, event=event, defaults={"type": event.type}
            )
            if created:  # fanned out again after a crash: the delivery exists, its job too
                deliver.configure(lock=str(delivery.pk)).defer(delivery_id=str(delivery.pk))
                made += 1
    return made


def payload(delivery: WebhookDelivery) -> dict:
    """What the receiver gets: Standard Webhooks' `type`, `timestamp`, `data`; ids only."""
    event = delivery.event
    if event is None:  # a ping
        data = {"webhook": str(delivery.subscription_id)}
        return {"type": delivery.type, "timestamp": delivery.created_at.isoformat(), "data": data}
    data = {
        "id": str(event.pk),
        "type": event.type,
        "version": event.version,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.isoformat(),
        "about": event.about,
    }
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data}


def signed_headers(subscription: WebhookSubscription, delivery: WebhookDelivery, body: str) -> dict[str, str]:
    """`webhook-id`, `webhook-timestamp`, and one `v1,…` signature per secret still valid (rotation overlap)."""
    now = timezone.now()
    signatures = []
    for entry in subscription.secrets or []:
        if entry.get("expires_at") and datetime.fromisoformat(entry["expires_at"]) <= now:
            continue
        signature = Webhook(entry["secret"]).sign(str(delivery.pk), now, body)
        signatures.append(signature)
    return {
        "webhook-id": str(delivery.pk),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def delivery_attempt(*, delivery_id: str) -> str:
    """Try a delivery once; record what happened and schedule what comes next. Returns its status."""
    from .tasks import deliver

    delivery = WebhookDelivery.objects.select_related("subscription__owner", "event").get(pk=delivery_id)
    subscription = delivery.subscription
    if delivery.status != DeliveryStatus.PENDING:
        return delivery.status
    if (
        not subscription.active
        or subscription.disabled_at is not None
        or (delivery.event is not None and not may_receive(subscription, delivery.event))
    ):
        _finish(delivery, DeliveryStatus.WITHHELD, detail={"reason": "not receivable now"})
        return DeliveryStatus.WITHHELD

    body = json.dumps(payload(delivery), separators=(",", ":"))
    try:
        answer = egress.post(subscription.url, body.encode(), signed_headers(subscription, delivery, body))
    except egress.TargetRefused as refused:
        answer = egress.Answer(None, 0, f"refused: {refused}")
        audit_append(
            actor=None,
            action="refuse",
            object_type="webhook",
            object_ids=[subscription.pk],
            detail={"delivery": str(delivery.pk), "reason": str(refused)[:200]},
        )
    succeeded = answer.status is not None and 200 <= answer.status < 300

    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        delivery.attempts += 1
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            status_code=answer.status,
            latency_ms=answer.latency_ms,
            error=answer.error,
        )
        delivery.last_attempt_at = timezone.now()
        delivery.last_status_code, delivery.last_latency_ms, delivery.last_error = (
            answer.status,
            answer.latency_ms,
            answer.error,
        )
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if succeeded:
            delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
            if subscription.failing_since is not None:
                subscription.failing_since = None
                subscription.save(update_fields=["failing_since"])
        else:
            if subscription.failing_since is None:
                subscription.failing_since = delivery.last_attempt_at
                subscription.save(update_fields=["failing_since"])
            tries = delivery.attempts - delivery.redelivered_after
            delays = retry_delays()
            if tries <= len(delays):
                wait = delays[tries - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311
                delivery.next_attempt_at = delivery.last_attempt_at + timedelta(seconds=wait)
                deliver.configure(lock=str(delivery.pk), schedule_at=delivery.next_attempt_at).defer(
                    delivery_id=str(delivery.pk)
                )
            else:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                _disable_if_failing_too_long(subscription)
        delivery.updated_at = timezone.now()
        delivery.save()
        audit_append(
            actor=None,
            action="deliver",
            object_type="webhook_delivery",
            object_ids=[delivery.pk],
            detail={"attempt": delivery.attempts, "status": answer.status, "outcome": delivery.status},
        )
    return delivery.status


def _finish(delivery: WebhookDelivery, status: str, *, detail: dict) -> None:
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).update(
            status=status, next_attempt_at=None, updated_at=timezone.now()
        )
        audit_append(
            actor=None,
            action=status,
            object_type="webhook_delivery",
            object_ids=[delivery.pk],
            detail=detail,
        )


def _disable_if_failing_too_long(subscription: WebhookSubscription) -> None:
    now = timezone.now()
    if subscription.failing_since is None or now - subscription.failing_since < DISABLE_AFTER:
        return
    subscription.disabled_at = now
    subscription.disabled_reason = f"Deliveries failed for over {DISABLE_AFTER} with no success in between."
    subscription.version += 1
    subscription.updated_at = now
    subscription.save(update_fields=["disabled_at", "disabled_reason", "version", "updated_at"])
    audit_append(actor=None, action="disable", object_type="webhook", object_ids=[subscription.pk])
    happened("webhook.disabled", webhook=subscription)
