"""The worker looking after itself: periodic tasks on the `housekeeping` queue (any worker serving every queue, as
`manage.py procrastinate worker` does by default, runs them; procrastinate defers each slot exactly once however
many workers there are).

- Stalled jobs: a worker killed without a chance to finish (SIGKILL, a lost machine) leaves its running jobs in
  `doing` for ever. Once its heartbeat is older than WORKER_STALLED_AFTER_SECONDS those jobs are retried; a webhook
  delivery is then sent again under the same `webhook-id` (at least once, docs/events.md).
- Retention: procrastinate keeps every finished job row; the relay's (one a second) go after an hour, other succeeded
  ones after WORKER_KEEP_SUCCEEDED_JOBS (7 days),
  failed, cancelled and aborted ones after WORKER_KEEP_FAILED_JOBS (30 days). The Event outbox and the webhook
  deliveries with their attempts are the product's record and are not touched.
"""

import logging

from django.conf import settings
from procrastinate.contrib.django import app

logger = logging.getLogger(__name__)

QUEUE = "housekeeping"


@app.periodic(cron="* * * * * */15", periodic_id="retry_stalled_jobs")
@app.task(queue=QUEUE, name="events.retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context, timestamp: int) -> int:
    """Retry the running jobs of workers whose heartbeat stopped; how many."""
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=settings.WORKER_STALLED_AFTER_SECONDS))
    for job in stalled:
        await manager.retry_job(job)
    if stalled:
        logger.warning(
            "retried %d stalled jobs (their worker stopped sending heartbeats): %s",
            len(stalled),
            ", ".join(f"{job.task_name}#{job.id}" for job in stalled),
        )
    return len(stalled)


@app.periodic(cron="23 * * * *", periodic_id="delete_old_jobs")
@app.task(queue=QUEUE, name="events.delete_old_jobs", pass_context=True)
async def delete_old_jobs(context, timestamp: int) -> None:
    """Delete finished job rows past their retention (the events and deliveries stay)."""
    manager = context.app.job_manager
    await manager.delete_old_jobs(nb_hours=1, queue="relay")  # one a second: an hour of them is enough to look at
    await manager.delete_old_jobs(nb_hours=hours(settings.WORKER_KEEP_SUCCEEDED_JOBS))
    await manager.delete_old_jobs(
        nb_hours=hours(settings.WORKER_KEEP_FAILED_JOBS),
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )


def hours(duration) -> int:
    return int(duration.total_seconds() // 3600)
