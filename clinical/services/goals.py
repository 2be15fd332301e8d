"""Treatment goals: their lifecycle (as FHIR Goal) and Goal Attainment Scaling ratings."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical.models import GAS_SCORES, Case, GoalAttainmentRating, GoalLifecycle, TreatmentGoal
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput

from .cases import require_case_not_closed, require_case_writable

L = GoalLifecycle
# The allowed lifecycle changes; anything else is refused with this table's answer for the current state.
GOAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    L.PROPOSED: (L.ACTIVE, L.CANCELLED, L.ENTERED_IN_ERROR),
    L.ACTIVE: (L.ON_HOLD, L.COMPLETED, L.CANCELLED, L.ENTERED_IN_ERROR),
    L.ON_HOLD: (L.ACTIVE, L.CANCELLED, L.ENTERED_IN_ERROR),
    L.COMPLETED: (L.ACTIVE, L.ENTERED_IN_ERROR),
    L.CANCELLED: (L.ENTERED_IN_ERROR,),
    L.ENTERED_IN_ERROR: (),
}
GAS_KEYS = tuple(str(score) for score in GAS_SCORES)


def validate_gas_levels(levels) -> dict | None:
    """Five non-empty texts keyed "-2" … "2" (much less than expected … much more), or none at all."""
    if levels is None:
        return None
    if set(levels) != set(GAS_KEYS) or not all(isinstance(v, str) and v.strip() for v in levels.values()):
        raise InvalidInput({"gas_levels": ['Give a description for each of the levels "-2", "-1", "0", "1" and "2".']})
    return {key: levels[key].strip() for key in GAS_KEYS}


def _require_editable(goal: TreatmentGoal) -> None:
    if goal.lifecycle_status == L.ENTERED_IN_ERROR:
        raise Conflict("This goal was entered in error and is kept only as a record.", code="goal_entered_in_error")


@transaction.atomic
def goal_create(*, actor, case: Case, **fields) -> TreatmentGoal:
    """A clinician sets a goal on one of their open or paused cases. New goals start as `proposed`."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    fields["gas_levels"] = validate_gas_levels(fields.get("gas_levels"))
    goal = save_valid(TreatmentGoal(case=case, **fields))
    audit_append(actor=actor, action="create", object_type="goal", object_ids=[goal.pk])
    return goal


@transaction.atomic
def goal_update(*, actor, goal: TreatmentGoal, expected_version: int | None, **changes) -> TreatmentGoal:
    """Change a goal's text, dates, priority, achievement or GAS levels (lifecycle: goal_transition)."""
    require_case_writable(actor, goal.case)
    require_case_not_closed(goal.case)
    _require_editable(goal)
    if "gas_levels" in changes:
        changes["gas_levels"] = validate_gas_levels(changes["gas_levels"])
        if changes["gas_levels"] is None and goal.gas_ratings.exists():
            raise Conflict(
                "This goal has GAS ratings; its levels can be reworded but not removed.", code="gas_levels_in_use"
            )
    goal = update_versioned(goal, expected_version=expected_version, changes=changes)
    audit_append(
        actor=actor,
        action="update",
        object_type="goal",
        object_ids=[goal.pk],
        detail={"fields": sorted(changes)},
    )
    return goal


@transaction.atomic
def goal_transition(*, actor, goal: TreatmentGoal, to: str, expected_version: int | None = None) -> TreatmentGoal:
    """Move a goal through its lifecycle along GOAL_TRANSITIONS (not on a closed case: it is frozen)."""
    require_case_writable(actor, goal.case)
    require_case_not_closed(goal.case)
    locked = lock_at_version(goal, expected_version=expected_version)
    allowed = GOAL_TRANSITIONS[locked.lifecycle_status]
    if to not in allowed:
        raise Conflict(
            f"This goal is {locked.lifecycle_status}; it cannot become {to}.",
            code="transition_not_allowed",
            lifecycle_status=locked.lifecycle_status,
            allowed=list(allowed),
        )
    goal = update_versioned(locked, expected_version=None, changes={"lifecycle_status": to})
    audit_append(
        actor=actor,
        action="transition",
        object_type="goal",
        object_ids=[goal.pk],
        detail={"from": locked.lifecycle_status, "to": to},
    )
    return goal


@transaction.atomic
def gas_rating_record(*, actor, goal: TreatmentGoal, score: int, rated_on=None) -> GoalAttainmentRating:
    """Rate a goal on its Goal Attainment Scale for a date (one rating per goal per day)."""
    require_case_writable(actor, goal.case)
    require_case_not_closed(goal.case)
    _require_editable(goal)
    if not goal.gas_levels:
        raise Conflict(
            "This goal has no Goal Attainment Scale levels; add them before rating.",
            code="gas_levels_missing",
        )
    if score not in GAS_SCORES:
        raise InvalidInput({"score": ["A whole number from -2 to 2."]})
    rated_on = rated_on or timezone.localdate()
    if rated_on > timezone.localdate():
        raise InvalidInput({"rated_on": ["A rating cannot be dated in the future."]})
    try:
        with transaction.atomic():
            rating = GoalAttainmentRating.objects.create(goal=goal, score=score, rated_on=rated_on, rated_by=actor)
    except IntegrityError as exc:
        raise Conflict(f"This goal already has a rating for {rated_on}.", code="gas_already_rated") from exc
    audit_append(
        actor=actor,
        action="create",
        object_type="gas_rating",
        object_ids=[rating.pk],
        detail={"goal": str(goal.pk)},
    )
    return rating
