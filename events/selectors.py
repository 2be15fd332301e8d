"""What a user may see of webhooks: their own subscriptions (the practice admin sees every one) and their deliveries;
and the state of the worker, for /api/v1/health/."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
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


@dataclass(frozen=True)
class WorkerState:
    """What /api/v1/health/ says of the worker. `live_workers`: workers whose heartbeat is fresher than
    WORKER_STALLED_AFTER_SECONDS; `heartbeat_age_seconds`: the most recent heartbeat of any worker (None when no
    worker ever registered or all have shut down); `queue_lag_seconds`: how long the oldest job that is due has been
    waiting (0 when none is)."""

    live_workers: int
    heartbeat_age_seconds: float | None
    queue_lag_seconds: float

    @property
    def degraded(self) -> bool:
        return self.live_workers == 0 or self.queue_lag_seconds > settings.WORKER_QUEUE_LAG_LIMIT_SECONDS


# A job is due from its `scheduled_at` (retries, scheduled jobs) or else from when it was deferred. Ids grow with
# deferral, so the oldest unscheduled job is the lowest id: both halves stay index scans however long the queue.
WORKER_STATE_SQL = """
WITH oldest_unscheduled AS (
    SELECT id FROM procrastinate_jobs WHERE status = 'todo' AND scheduled_at IS NULL ORDER BY id LIMIT 1
), due_since AS (
    SELECT LEAST(
        (SELECT min(at) FROM procrastinate_events
          WHERE job_id = (SELECT id FROM oldest_unscheduled) AND type = 'deferred'),
        (SELECT min(scheduled_at) FROM procrastinate_jobs WHERE status = 'todo' AND scheduled_at <= now())
    ) AS at
)
SELECT
    (SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat >= now() - make_interval(secs => %s)),
    (SELECT EXTRACT(EPOCH FROM now() - max(last_heartbeat)) FROM procrastinate_workers),
    COALESCE((SELECT EXTRACT(EPOCH FROM now() - at) FROM due_since), 0)
"""


def worker_state() -> WorkerState:
    with connection.cursor() as cursor:
        cursor.execute(WORKER_STATE_SQL, [settings.WORKER_STALLED_AFTER_SECONDS])
        live, heartbeat_age, lag = cursor.fetchone()
    return WorkerState(
        live_workers=live,
        heartbeat_age_seconds=None if heartbeat_age is None else round(float(heartbeat_age), 1),
        queue_lag_seconds=max(0.0, round(float(lag), 1)),
    )
