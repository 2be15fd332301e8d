"""Couple safety (issue 17): each partner's private partner-violence screen, the conjoint hold a positive screen
places on the couple's case, and the clinician's decision that ends or keeps it. Nothing here raises an event,
notifies a client or changes anything a client reads: the other partner must never be able to infer a screen
(docs/security.md)."""

from django.db import transaction
from django.utils import timezone

from clinical.models import (
    HOLDING,
    Case,
    Client,
    ConjointHold,
    HoldStatus,
    SafetyScreen,
    ScreenResult,
    SubjectType,
)
from clinical.selectors import case_clients
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput

from .cases import case_transition, require_case_not_closed, require_case_writable

# decision → the hold's status after it
HOLD_DECISIONS = {
    "continue_jointly": HoldStatus.CONTINUE_JOINTLY,
    "individual_work": HoldStatus.INDIVIDUAL_WORK,
    "close": HoldStatus.CLOSED,
}


@transaction.atomic
def safety_screen_record(
    *, actor, case: Case, client: Client, result: str, screened_on=None, notes: str = ""
) -> SafetyScreen:
    """The case's clinician records one partner's screen, done with that partner alone. A positive screen places a
    conjoint hold on the case (unless one already holds it)."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    if case.subject_type != SubjectType.COUPLE:
        raise InvalidInput({"case": ["A partner-violence screen is recorded on a couple case."]})
    if client.pk not in {partner.pk for partner in case_clients(case)}:
        raise InvalidInput({"client": ["Not a partner of this case's couple."]})
    screen = save_valid(
        SafetyScreen(
            case=case,
            client=client,
            result=result,
            screened_on=screened_on or timezone.localdate(),
            notes=notes,
            recorded_by=actor,
        )
    )
    audit_append(actor=actor, action="create", object_type="safety_screen", object_ids=[screen.pk])
    if result == ScreenResult.POSITIVE:
        _hold(actor, case, screen)
    return screen


def _hold(actor, case: Case, screen: SafetyScreen) -> None:
    Case.objects.select_for_update().filter(pk=case.pk).first()  # one hold at a time: holders of the case queue here
    held = ConjointHold.objects.filter(case=case, status__in=HOLDING).first()
    if held is not None:
        if held.status == HoldStatus.INDIVIDUAL_WORK:  # a new positive screen asks for a new decision
            again = {"status": HoldStatus.HELD, "reason": "", "decided_at": None, "decided_by": None}
            update_versioned(held, expected_version=None, changes=again)
            audit_append(actor=actor, action="hold", object_type="conjoint_hold", object_ids=[held.pk])
        return
    hold = save_valid(ConjointHold(case=case, screen=screen))
    audit_append(actor=actor, action="hold", object_type="conjoint_hold", object_ids=[hold.pk])


@transaction.atomic
def conjoint_hold_decide(
    *, actor, hold: ConjointHold, decision: str, reason: str, expected_version: int | None = None
) -> ConjointHold:
    """The case's clinician decides what becomes of joint work, with the reason: continue jointly with a safety
    plan (the hold ends), switch to individual work (joint work stays refused; decidable again later), or close the
    case (closed with this reason)."""
    require_case_writable(actor, hold.case)
    locked = lock_at_version(hold, expected_version=expected_version, related=("case",))
    target = HOLD_DECISIONS[decision]
    if locked.status not in HOLDING or locked.status == target:
        raise Conflict(
            f"This hold is already decided ({locked.status}).",
            code="hold_decided",
            status_now=locked.status,
        )
    if not reason.strip():
        raise InvalidInput({"reason": ["Say why: the decision and its reason are the record of it."]})
    changes = {"status": target, "reason": reason.strip(), "decided_at": timezone.now(), "decided_by": actor}
    hold = update_versioned(locked, expected_version=None, changes=changes, locked=True)
    audit_append(
        actor=actor,
        action="decide",
        object_type="conjoint_hold",
        object_ids=[hold.pk],
        detail={"decision": decision},
    )
    if decision == "close" and locked.case.status != "closed":
        case_transition(actor=actor, case=locked.case, action="close", closing_reason=reason.strip())
    return hold


def require_no_conjoint_hold(case: Case) -> None:
    """Joint homework and joint sessions wait while a couple case is held (or its clinician chose individual work)."""
    if case.subject_type == SubjectType.COUPLE and ConjointHold.objects.filter(case=case, status__in=HOLDING).exists():
        raise Conflict(
            "Joint work on this case is on hold after a safety screen: record a decision on the hold first.",
            code="conjoint_hold",
        )
