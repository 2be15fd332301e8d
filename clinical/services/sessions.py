"""Sessions: booking a case's appointment, rescheduling it, and recording what became of it."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from clinical.models import BOOKED, Case, Client, Session, SessionKind, SessionStatus, SubjectType
from clinical.selectors import case_clients
from kernel.audit import audit_append
from kernel.changes import lock_at_version, save_racing, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput

from .cases import require_case_not_closed, require_case_writable
from .consents import consent_required_before, require_treatment_consents
from .safety import require_no_conjoint_hold

S = SessionStatus
# What a scheduled session may become; the outcomes are final (a mistake is corrected by a new session).
SESSION_TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.SCHEDULED: (S.ATTENDED, S.CANCELLED, S.LATE_CANCELLED, S.NO_SHOW),
    S.ATTENDED: (),
    S.CANCELLED: (),
    S.LATE_CANCELLED: (),
    S.NO_SHOW: (),
}
# Outcomes that only a session that has begun can have.
AFTER_START = (S.ATTENDED, S.NO_SHOW)
# Outcomes that need a reason.
REASON_REQUIRED = (S.CANCELLED, S.LATE_CANCELLED, S.NO_SHOW)
LONGEST = timedelta(hours=12)


def _validate_times(starts_at, ends_at) -> None:
    if ends_at <= starts_at:
        raise InvalidInput({"ends_at": ["A session ends after it starts."]})
    if ends_at - starts_at > LONGEST:
        raise InvalidInput({"ends_at": ["A session lasts at most 12 hours."]})


def _attendees(case: Case, kind: str, partner: Client | None, attendees) -> list[Client]:
    """Who the session is with: a subset of the case's clients; an individual session is with its one partner."""
    clients = case_clients(case)
    by_pk = {c.pk: c for c in clients}
    if kind == SessionKind.INDIVIDUAL:
        if case.subject_type != SubjectType.COUPLE:
            raise InvalidInput({"kind": ["Individual sessions are for one partner of a couple case."]})
        if partner is None or partner.pk not in by_pk:
            raise InvalidInput({"partner": ["Name one partner of this case's couple."]})
        if attendees and [a.pk for a in attendees] != [partner.pk]:
            raise InvalidInput({"attendees": ["An individual session is attended by its partner alone."]})
        return [partner]
    if partner is not None:
        raise InvalidInput({"partner": ["Only an individual session names a partner."]})
    if not attendees:
        return clients
    if any(a.pk not in by_pk for a in attendees):
        raise InvalidInput({"attendees": ["Only the clients of this case attend its sessions."]})
    return list({a.pk: a for a in attendees}.values())


def _require_joint_allowed(case: Case, kind: str, people, *, booking: bool = False) -> None:
    """A joint session of a couple case (both partners together) is neither booked nor moved under a conjoint hold;
    where the practice asks for consent only before the first joint session, booking one needs both consents."""
    if case.subject_type != SubjectType.COUPLE or kind != SessionKind.JOINT or len(people) < 2:
        return
    require_no_conjoint_hold(case)
    if booking and consent_required_before("first_joint_session"):
        require_treatment_consents(list(people))


def _require_free(clinician_id, starts_at, ends_at, *, other_than=None) -> None:
    """The clinician has no other booked session overlapping [starts_at, ends_at): 409 naming it."""
    clash = Session.objects.filter(
        clinician_id=clinician_id, status__in=BOOKED, starts_at__lt=ends_at, ends_at__gt=starts_at
    )
    if other_than is not None:
        clash = clash.exclude(pk=other_than)
    first = clash.order_by("starts_at", "pk").values_list("pk", flat=True).first()
    if first is not None:
        raise Conflict(
            "The clinician already has a session at that time.", code="session_overlap", conflicting_session=str(first)
        )


@transaction.atomic
def session_create(
    *,
    actor,
    case: Case,
    starts_at,
    ends_at,
    modality: str,
    kind: str = SessionKind.JOINT,
    partner: Client | None = None,
    attendees=(),
    location: str = "",
) -> Session:
    """The case's clinician books a session on an open or paused case, at a time they are free."""
    require_case_writable(actor, case)
    require_case_not_closed(case)
    _validate_times(starts_at, ends_at)
    people = _attendees(case, kind, partner, list(attendees))
    _require_joint_allowed(case, kind, people, booking=True)
    _require_free(case.clinician_id, starts_at, ends_at)
    session = Session(
        case=case,
        clinician_id=case.clinician_id,
        starts_at=starts_at,
        ends_at=ends_at,
        modality=modality,
        kind=kind,
        partner=partner,
        location=location,
    )
    # The overlap rule is the database's (a concurrent booking): not validated again in Python.
    session = save_racing(
        lambda: save_valid(session, exclude_validation=["clinician"]),
        constraint="session_no_double_booking",
        recheck=lambda: _require_free(case.clinician_id, starts_at, ends_at),
    )
    session.attendees.set(people)
    audit_append(actor=actor, action="create", object_type="session", object_ids=[session.pk])
    return session


@transaction.atomic
def session_update(*, actor, session: Session, expected_version: int | None, **changes) -> Session:
    """Reschedule a scheduled session (times, modality, place, who attends); the history keeps each version."""
    require_case_writable(actor, session.case)
    require_case_not_closed(session.case)
    locked = lock_at_version(session, expected_version=expected_version)
    if locked.status != S.SCHEDULED:
        raise Conflict("Only a scheduled session can be changed.", code="session_not_scheduled")
    attendees = changes.pop("attendees", None)
    starts_at, ends_at = changes.get("starts_at", locked.starts_at), changes.get("ends_at", locked.ends_at)
    _validate_times(starts_at, ends_at)
    if attendees is not None:
        people = _attendees(locked.case, locked.kind, locked.partner, attendees)
    _require_joint_allowed(locked.case, locked.kind, people if attendees is not None else locked.attendees.all())
    _require_free(locked.clinician_id, starts_at, ends_at, other_than=locked.pk)
    # The overlap rule is the database's (a concurrent booking): not validated again in Python.
    locked = save_racing(
        lambda: update_versioned(locked, expected_version=None, changes=changes, locked=True),
        constraint="session_no_double_booking",
        recheck=lambda: _require_free(locked.clinician_id, starts_at, ends_at, other_than=locked.pk),
    )
    if attendees is not None:
        locked.attendees.set(people)
    fields = sorted([*changes, *(["attendees"] if attendees is not None else [])])
    audit_append(actor=actor, action="update", object_type="session", object_ids=[locked.pk], detail={"fields": fields})
    return locked


@transaction.atomic
def session_transition(
    *, actor, session: Session, to: str, reason: str = "", expected_version: int | None = None
) -> Session:
    """Record what became of a scheduled session: attended, cancelled, cancelled late, or a no-show (with why)."""
    require_case_writable(actor, session.case)
    locked = lock_at_version(session, expected_version=expected_version)
    if to not in SESSION_TRANSITIONS[locked.status]:
        raise Conflict(
            f"A session that is {locked.status} cannot become {to}.",
            code="session_transition_not_allowed",
        )
    if to in AFTER_START and locked.starts_at > timezone.now():
        raise Conflict("This session has not begun yet.", code="session_not_started")
    reason = reason.strip()
    if to in REASON_REQUIRED and not reason:
        raise InvalidInput({"reason": [f"Say why the session is {to.replace('_', ' ')}."]})
    previous = locked.status
    changes = {"status": to, "status_reason": reason}
    locked = update_versioned(locked, expected_version=None, changes=changes, locked=True)
    audit_append(
        actor=actor,
        action="transition",
        object_type="session",
        object_ids=[locked.pk],
        detail={"from": previous, "to": to},
    )
    return locked
