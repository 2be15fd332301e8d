"""What a user may see of webhooks: their own subscriptions (the practice admin sees every one) and their deliveries."""

from django.db.models import QuerySet

from clinical.models import STAFF_ROLES, Role

from .models import WebhookDelivery, WebhookSubscription


def webhooks_visible_to(*, user) -> QuerySet[WebhookSubscription]:
    if user.role == Role.ADMIN:
        return WebhookSubscription.objects.all()
    if user.role in STAFF_ROLES:
        return WebhookSubscription.objects.filter(owner=user)
    return WebhookSubscription.objects.none()


def webhooks_writable_by(*, user) -> QuerySet[WebhookSubscription]:
    """Each subscription is its owner's to change (the admin reads every one, and changes its own)."""
    if user.role not in (*STAFF_ROLES, Role.ADMIN):
        return WebhookSubscription.objects.none()
    return WebhookSubscription.objects.filter(owner=user)


def deliveries_visible_to(*, user) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription__in=webhooks_visible_to(user=user))
