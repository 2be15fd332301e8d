"""Webhook subscriptions: a staff member's (or the practice admin's) signed deliveries of the events they may see.
Every change is audited; the secret is returned once, when made or rotated, and kept encrypted."""

from datetime import timedelta
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from clinical.models import STAFF_ROLES, Role
from kernel.audit import audit_append
from kernel.changes import lock_at_version, require_in, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed, RecordedRefusal

from . import egress
from .catalog import EVENT_TYPES
from .delivery import new_secret
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from .selectors import webhooks_writable_by

ROTATION_OVERLAP = timedelta(hours=24)
# The practice's own events: only the admin's subscription may ask for them.
ADMIN_ONLY_TYPES = {name for name, kind in EVENT_TYPES.items() if kind.scope == "webhook"}
PING = "webhook.ping"


class WithSecret(NamedTuple):
    webhook: WebhookSubscription
    secret: str  # shown once


def check_target(url: str, *, actor, webhook: WebhookSubscription | None = None) -> None:
    """The URL must be one the API may call (events/egress.py). A refusal is audited (an attempt at SSRF is worth
    knowing about) and raised as a RecordedRefusal; it comes before any other write of the change."""
    try:
        egress.check(url)
    except egress.TargetRefused as refused:
        audit_append(
            actor=actor,
            action="refuse",
            object_type="webhook",
            object_ids=[webhook.pk] if webhook else [],
            detail={"url": url[:300]},
        )
        raise RecordedRefusal({"url": [str(refused)]}, code="webhook_target_refused") from refused


def _check_types(actor, event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown or not event_types:
        raise InvalidInput({"event_types": [f"Event types from GET /api/v1/event-types/; not {', '.join(unknown)}."]})
    if actor.role != Role.ADMIN and set(event_types) & ADMIN_ONLY_TYPES:
        raise InvalidInput({"event_types": ["webhook.disabled goes to the practice admin's subscriptions."]})
    return sorted(set(event_types))


def webhook_create(*, actor, url: str, event_types: list[str], description: str = "") -> WithSecret:
    """A subscription of the actor's: the events they may see, of these types, signed, to `url`."""
    if actor.role not in (*STAFF_ROLES, Role.ADMIN):
        raise NotAllowed("Only staff and the practice admin subscribe to events.", code="not_staff")
    check_target(url, actor=actor)
    with transaction.atomic():
        return _create(actor=actor, url=url, event_types=event_types, description=description)


def _create(*, actor, url, event_types, description) -> WithSecret:
    secret = new_secret()
    webhook = save_valid(
        WebhookSubscription(
            owner=actor,
            url=url,
            event_types=_check_types(actor, event_types),
            description=description,
            secrets=[{"secret": secret, "expires_at": None}],
        )
    )
    audit_append(actor=actor, action="create", object_type="webhook", object_ids=[webhook.pk])
    return WithSecret(webhook, secret)


def webhook_update(*, actor, webhook: WebhookSubscription, expected_version: int | None, **changes):
    """Change the URL, the event types, the description, or switch it off and on. Switching on a subscription the
    API disabled starts it afresh."""
    require_in(webhooks_writable_by(user=actor), webhook, detail="Only the subscription's owner changes it.")
    if "url" in changes:
        check_target(changes["url"], actor=actor, webhook=webhook)
    with transaction.atomic():
        return _update(actor=actor, webhook=webhook, expected_version=expected_version, changes=changes)


def _update(*, actor, webhook, expected_version, changes):
    if "event_types" in changes:
        changes["event_types"] = _check_types(webhook.owner, changes["event_types"])
    if changes.get("active") is True:
        changes.update(disabled_at=None, disabled_reason="", failing_since=None)
    webhook = update_versioned(webhook, expected_version=expected_version, changes=changes)
    audit_append(
        actor=actor, action="update", object_type="webhook", object_ids=[webhook.pk], detail={"fields": sorted(changes)}
    )
    return webhook


@transaction.atomic
def webhook_rotate_secret(*, actor, webhook: WebhookSubscription, expected_version: int | None = None) -> WithSecret:
    """A new secret signs from now on; the ones before keep signing for ROTATION_OVERLAP (each delivery carries a
    signature per secret), so the receiver can switch without losing a delivery."""
    require_in(webhooks_writable_by(user=actor), webhook, detail="Only the subscription's owner changes it.")
    locked = lock_at_version(webhook, expected_version=expected_version)
    now = timezone.now()
    ends = (now + ROTATION_OVERLAP).isoformat()
    kept = [
        {**entry, "expires_at": min(entry["expires_at"] or ends, ends)}
        for entry in locked.secrets or []
        if not entry["expires_at"] or entry["expires_at"] > now.isoformat()
    ]
    secret = new_secret()
    webhook = update_versioned(
        locked, expected_version=None, changes={"secrets": [{"secret": secret, "expires_at": None}, *kept]}, locked=True
    )
    audit_append(actor=actor, action="rotate_secret", object_type="webhook", object_ids=[webhook.pk])
    return WithSecret(webhook, secret)


@transaction.atomic
def webhook_ping(*, actor, webhook: WebhookSubscription) -> WebhookDelivery:
    """A `webhook.ping` delivery, to try the receiver and its signature check."""
    from .tasks import deliver

    require_in(webhooks_writable_by(user=actor), webhook, detail="Only the subscription's owner pings it.")
    delivery = WebhookDelivery.objects.create(subscription=webhook, type=PING)
    deliver.configure(lock=str(delivery.pk)).defer(delivery_id=str(delivery.pk))
    audit_append(actor=actor, action="ping", object_type="webhook", object_ids=[webhook.pk, delivery.pk])
    return delivery


@transaction.atomic
def webhook_redeliver(*, actor, webhook: WebhookSubscription, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again, under the same `webhook-id`, with a fresh run of retries."""
    from .tasks import deliver

    require_in(webhooks_writable_by(user=actor), webhook, detail="Only the subscription's owner redelivers.")
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.subscription_id != webhook.pk:
        raise InvalidInput({"delivery": ["A delivery of this subscription."]})
    if locked.status == DeliveryStatus.PENDING:
        raise Conflict("This delivery is still being tried.", code="delivery_pending")
    locked.status, locked.redelivered_after, locked.next_attempt_at = DeliveryStatus.PENDING, locked.attempts, None
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "redelivered_after", "next_attempt_at", "updated_at"])
    deliver.configure(lock=str(locked.pk)).defer(delivery_id=str(locked.pk))
    audit_append(actor=actor, action="redeliver", object_type="webhook", object_ids=[webhook.pk, locked.pk])
    return locked
