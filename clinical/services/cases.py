"""Cases: opening one for a client or a couple, pausing, resuming, closing, and moving a caseload."""

from django.db import transaction
from django.utils import timezone

from clinical.models import (
    STAFF_ROLES,
    Case,
    CaseStatus,
    Client,
    ConfidentialityPolicy,
    Couple,
    CoupleStatus,
    Role,
    SubjectType,
    User,
)
from clinical.selectors import cases_writable_by, clients_writable_by, couples_writable_by
from kernel.audit import audit_append
from kernel.changes import lock_at_version, require_in, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed
from kernel.events import happened

from .consents import consent_required_before, require_treatment_consents

# action → (states it may start from, state it leads to)
CASE_ACTIONS = {
    "pause": ((CaseStatus.OPEN,), CaseStatus.PAUSED),
    "resume": ((CaseStatus.PAUSED,), CaseStatus.OPEN),
    "close": ((CaseStatus.OPEN, CaseStatus.PAUSED), CaseStatus.CLOSED),
}


def require_case_writable(actor, case: Case) -> None:
    """Only the case's own clinician changes it or adds to it; supervisors read."""
    require_in(
        cases_writable_by(user=actor),
        case,
        detail="Only the case's clinician may change it.",
        code="not_case_clinician",
    )


def require_case_not_closed(case: Case) -> None:
    if case.status == CaseStatus.CLOSED:
        raise Conflict("This case is closed; it takes no new goals, notes or homework.", code="case_closed")


@transaction.atomic
def case_open(
    *,
    actor,
    subject_type: str,
    client: Client | None = None,
    couple: Couple | None = None,
    presenting_concerns=(),
    opened_on=None,
    confidentiality_policy: str = "",
) -> Case:
    """Open a case for one client or one couple on the actor's caseload; the actor holds it. A couple case takes the
    couple's confidentiality policy (`limited_secrets` when none is given) and, unless the practice relaxed it, both
    partners' consent to treatment (`consent_missing`)."""
    if actor.role not in STAFF_ROLES:
        raise NotAllowed("Only clinicians hold cases.", code="not_a_clinician")
    if subject_type == SubjectType.INDIVIDUAL and (client is None or couple is not None):
        raise InvalidInput({"client": ["An individual case names one client and no couple."]})
    if subject_type == SubjectType.COUPLE and (couple is None or client is not None):
        raise InvalidInput({"couple": ["A couple case names one couple and no client."]})
    if client is not None and not clients_writable_by(user=actor).filter(pk=client.pk).exists():
        raise InvalidInput({"client": ["Not a client on your caseload."]})
    if couple is not None:
        if not couples_writable_by(user=actor).filter(pk=couple.pk).exists():
            raise InvalidInput({"couple": ["Not a couple on your caseload."]})
        if couple.status != CoupleStatus.ACTIVE:
            raise Conflict("This couple has ended; a new case needs an active couple.", code="couple_ended")
        if consent_required_before("case_open"):
            require_treatment_consents([m.client for m in couple.members.select_related("client").order_by("position")])
        confidentiality_policy = confidentiality_policy or ConfidentialityPolicy.LIMITED_SECRETS
    elif confidentiality_policy:
        raise InvalidInput({"confidentiality_policy": ["Only a couple case has a confidentiality policy."]})
    case = save_valid(
        Case(
            subject_type=subject_type,
            client=client,
            couple=couple,
            clinician=actor,
            presenting_concerns=sorted(set(presenting_concerns)),
            opened_on=opened_on or timezone.localdate(),
            confidentiality_policy=confidentiality_policy,
        )
    )
    audit_append(actor=actor, action="create", object_type="case", object_ids=[case.pk])
    happened("case.opened", case=case)
    return case


@transaction.atomic
def case_update(*, actor, case: Case, expected_version: int | None, **changes) -> Case:
    """Change a case's presenting concerns (its status changes through pause, resume and close). A closed
    case is frozen."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    if "presenting_concerns" in changes:
        changes["presenting_concerns"] = sorted(set(changes["presenting_concerns"]))
    case = update_versioned(case, expected_version=expected_version, changes=changes)
    audit_append(
        actor=actor,
        action="update",
        object_type="case",
        object_ids=[case.pk],
        detail={"fields": sorted(changes)},
    )
    return case


@transaction.atomic
def case_confidentiality_set(
    *, actor, case: Case, policy: str, reason: str, expected_version: int | None = None
) -> Case:
    """The clinician changes a couple case's confidentiality policy, saying why (the change and its reason are
    audited and kept in the case's history). Setting the policy it has changes nothing."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    if case.subject_type != SubjectType.COUPLE:
        raise InvalidInput({"policy": ["Only a couple case has a confidentiality policy."]})
    if not reason.strip():
        raise InvalidInput({"reason": ["Say why the policy changes (for example, what the couple agreed)."]})
    locked = lock_at_version(case, expected_version=expected_version)
    before = locked.confidentiality_policy
    if before == policy:
        return locked
    case = update_versioned(locked, expected_version=None, changes={"confidentiality_policy": policy}, locked=True)
    audit_append(
        actor=actor,
        action="confidentiality",
        object_type="case",
        object_ids=[case.pk],
        detail={"from": before, "to": policy, "reason": reason.strip()},
    )
    return case


@transaction.atomic
def case_transition(*, actor, case: Case, action: str, closing_reason: str = "", expected_version=None) -> Case:
    """pause: open → paused; resume: paused → open; close: open or paused → closed, with a reason. Closing
    also withdraws the case's active homework and self-report schedules: nothing stays due on a closed case."""
    require_case_writable(actor, case)
    sources, target = CASE_ACTIONS[action]
    locked = lock_at_version(case, expected_version=expected_version)
    if locked.status not in sources:
        raise Conflict(
            f"This case is {locked.status}; it cannot {action}.",
            code="case_transition_not_allowed",
            status_now=locked.status,
            allowed_actions=allowed_case_actions(locked.status),
        )
    changes = {"status": target}
    if action == "close":
        if not closing_reason.strip():
            raise InvalidInput({"closing_reason": ["Say why the case is closing."]})
        changes.update(closed_on=timezone.localdate(), closing_reason=closing_reason.strip())
    case = update_versioned(locked, expected_version=None, changes=changes)
    audit_append(
        actor=actor,
        action=action,
        object_type="case",
        object_ids=[case.pk],
        detail={"from": locked.status, "to": target},
    )
    if action == "close":
        _withdraw_open_work(actor, case)
        happened("case.closed", case=case)
    return case


def _withdraw_open_work(actor, case: Case) -> None:
    for assignment in case.assignments.filter(status="active"):
        update_versioned(assignment, expected_version=None, changes={"status": "cancelled"})
        audit_append(
            actor=actor,
            action="cancel",
            object_type="assignment",
            object_ids=[assignment.pk],
            detail={"reason": "case closed"},
        )
    for schedule in case.assessment_schedules.filter(status="active"):
        update_versioned(schedule, expected_version=None, changes={"status": "cancelled"})
        audit_append(
            actor=actor,
            action="cancel",
            object_type="assessment_schedule",
            object_ids=[schedule.pk],
            detail={"reason": "case closed"},
        )


def allowed_case_actions(status: str) -> list[str]:
    return [action for action, (sources, _) in CASE_ACTIONS.items() if status in sources]


@transaction.atomic
def caseload_reassign(*, actor: User, clinician: User, to: User) -> dict:
    """The admin moves a departing clinician's open and paused cases, and the clients whose primary clinician
    they are, to another clinician. Nothing clinical is read; the move is audited."""
    if actor.role != Role.ADMIN:
        raise NotAllowed("Only the practice admin reassigns caseloads.")
    if to.pk == clinician.pk:
        raise InvalidInput({"to": ["Choose another clinician."]})
    if to.role not in STAFF_ROLES or not to.is_active:
        raise InvalidInput({"to": ["The receiving clinician must be an active clinician or supervisor."]})
    now = timezone.now()
    moving = Case.objects.select_for_update().filter(
        clinician=clinician, status__in=[CaseStatus.OPEN, CaseStatus.PAUSED]
    )
    case_ids = list(moving.values_list("pk", flat=True))
    for case in Case.objects.filter(pk__in=case_ids):  # row by row so that row history records each move
        update_versioned(case, expected_version=None, changes={"clinician": to})
    client_ids = list(Client.objects.filter(primary_clinician=clinician).values_list("pk", flat=True))
    for client in Client.objects.filter(pk__in=client_ids):
        update_versioned(client, expected_version=None, changes={"primary_clinician": to})
    audit_append(
        actor=actor,
        action="reassign",
        object_type="case",
        object_ids=case_ids,
        detail={
            "from": str(clinician.pk),
            "to": str(to.pk),
            "clients": len(client_ids),
            "at": now.isoformat(),
        },
    )
    return {"cases_moved": len(case_ids), "clients_moved": len(client_ids)}
