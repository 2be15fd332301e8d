"""The database side of the scenarios, through the project's own models (the script runs Django in-process):
choose the mobile clients and give them tokens, then hold what the clients saw against what was stored."""

from __future__ import annotations

import json
import random
import secrets
from collections import Counter, defaultdict
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from oauth2_provider.models import AccessToken, set_token_value

from api.models import IdempotencyRecord
from bench import sample
from clinical.models import (
    AssignmentStatus,
    AuditEvent,
    CaseStatus,
    HomeworkAssignment,
    HomeworkSubmission,
    OAuthApplication,
)

from .load import Call, ClientPlan, KeyOutcome

READ_TYPES = {"me_assignments": "assignment", "submissions": "submission", "submission": "submission"}


def prepare(count: int, seed: int) -> list[ClientPlan]:
    """`count` clients with an app login and active homework on an open case that started before yesterday (so a
    completion from the last hours is valid), one assignment each, with a homework-scoped token."""
    application, _ = OAuthApplication.objects.get_or_create(
        name="resilience",
        defaults={
            "client_type": OAuthApplication.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": OAuthApplication.GRANT_CLIENT_CREDENTIALS,
        },
    )
    assignments = (
        HomeworkAssignment.objects.filter(
            status=AssignmentStatus.ACTIVE,
            case__status=CaseStatus.OPEN,
            start_date__lt=timezone.localdate() - timedelta(days=1),
        )
        .filter(Q(assignees__user__isnull=False))
        .select_related("exercise_version")
        .prefetch_related("assignees")
        .distinct()
        .order_by("id")
    )
    rng = random.Random(seed)
    plans, seen = [], set()
    for assignment in assignments.iterator(chunk_size=200):
        client = next((c for c in assignment.assignees.all() if c.user_id and c.user_id not in seen), None)
        if client is None:
            continue
        seen.add(client.user_id)
        raw = secrets.token_urlsafe(24)
        token = AccessToken(
            user_id=client.user_id,
            application=application,
            scope="homework",
            expires=timezone.now() + timedelta(hours=6),
        )
        set_token_value(token, raw)
        token.save()
        fields = assignment.exercise_version.response_fields
        plans.append(
            ClientPlan(
                index=len(plans),
                user_id=str(client.user_id),
                token=raw,
                assignment=str(assignment.pk),
                responses=[sample.responses(fields, rng) for _ in range(5)],
            )
        )
        if len(plans) == count:
            return plans
    raise RuntimeError(f"only {len(plans)} clients with active homework; generate a bigger practice")


def reconcile(keys: dict[str, KeyOutcome], user_ids: list[str], since) -> tuple[dict, list[str]]:
    """Every 201 has exactly one stored submission, stored with its key and one `create` audit event, and nothing
    was stored that no client was answered 201 for."""
    problems = []
    seen = {k: o.submission_id for k, o in keys.items() if o.submission_id}
    stored = set(
        HomeworkSubmission.objects.filter(client__user_id__in=user_ids, created_at__gte=since).values_list(
            "id", flat=True
        )
    )
    stored = {str(i) for i in stored}
    records = {
        r.key: json.loads(r.response_body)["id"]
        for r in IdempotencyRecord.objects.filter(user_id__in=user_ids, created_at__gte=since)
    }
    creates = Counter()
    for object_ids in AuditEvent.objects.filter(
        actor_id__in=user_ids, occurred_at__gte=since, action="create", object_type="submission"
    ).values_list("object_ids", flat=True):
        creates.update(str(i) for i in object_ids)

    for key, submission_id in seen.items():
        if records.get(key) != submission_id:
            problems.append(f"key {key}: answered {submission_id}, stored key holds {records.get(key)}")
        if submission_id not in stored:
            problems.append(f"key {key}: answered {submission_id}, which is not stored")
    if len(set(seen.values())) != len(seen):
        problems.append("two keys were answered with the same submission")
    without_201 = stored - set(seen.values())
    for submission_id in sorted(without_201)[:10]:
        problems.append(f"submission {submission_id} is stored but no client was answered 201 for it")
    for key in sorted(set(records) - set(seen))[:10]:
        problems.append(f"key {key} is stored but its client was never answered 201")
    wrong_audit = [i for i in stored if creates[i] != 1]
    for submission_id in wrong_audit[:10]:
        problems.append(f"submission {submission_id} has {creates[submission_id]} create events (want 1)")
    for outcome in keys.values():
        if not outcome.resolved:
            problems.append(f"key {outcome.key}: no final answer after {outcome.attempts} attempts")
        elif outcome.refused is not None:
            problems.append(f"key {outcome.key}: refused with {outcome.refused}")
        problems.extend(f"key {outcome.key}: {m}" for m in outcome.mismatches)
    numbers = {
        "keys": len(keys),
        "answered_201": len(seen),
        "stored": len(stored),
        "stored_keys": len(records),
        "stored_without_201": len(without_201),
        "create_events_not_1": len(wrong_audit),
        "unresolved": sum(1 for o in keys.values() if not o.resolved),
    }
    return numbers, problems


def audit_reads(calls: list[Call], user_ids: list[str], since) -> tuple[dict, list[str]]:
    """Every read the clients were answered 200 for has exactly one `read` event with its request id, of the record
    type read; a read answered 503 (rolled back) has none."""
    events = defaultdict(list)
    for request_id, action, object_type in AuditEvent.objects.filter(
        actor_id__in=user_ids, occurred_at__gte=since
    ).values_list("request_id", "action", "object_type"):
        events[request_id].append((action, object_type))
    problems = []
    reads_ok = [c for c in calls if c.method == "GET" and c.status == 200]
    failed = [c for c in calls if c.status is not None and c.status >= 500]
    missing = [c for c in reads_ok if events.get(c.request_id) != [("read", READ_TYPES[c.kind])]]
    for call in missing[:10]:
        problems.append(f"{call.kind} read {call.request_id} answered 200 has events {events.get(call.request_id)}")
    leftovers = [c for c in failed if events.get(c.request_id)]
    for call in leftovers[:10]:
        problems.append(f"{call.kind} {call.request_id} answered {call.status} left events {events[call.request_id]}")
    numbers = {
        "reads_answered_200": len(reads_ok),
        "read_events_matching": len(reads_ok) - len(missing),
        "events_of_failed_requests": len(leftovers),
    }
    return numbers, problems
