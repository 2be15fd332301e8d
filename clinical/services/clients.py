"""Clients and couples on a clinician's caseload."""

from django.db import IntegrityError, transaction

from clinical.models import STAFF_ROLES, Client, Couple, CoupleMember, CoupleStatus
from clinical.selectors import clients_writable_by, couples_writable_by
from kernel.audit import audit_append
from kernel.changes import require_in, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed


def _require_clinician(actor):
    if actor.role not in STAFF_ROLES:
        raise NotAllowed("Only clinicians hold a caseload.", code="not_a_clinician")


@transaction.atomic
def client_create(*, actor, **fields) -> Client:
    """A clinician adds a client to their own caseload (they become the primary clinician)."""
    _require_clinician(actor)
    client = save_valid(Client(primary_clinician=actor, **fields))
    audit_append(actor=actor, action="create", object_type="client", object_ids=[client.pk])
    return client


@transaction.atomic
def client_update(*, actor, client: Client, expected_version: int | None, **changes) -> Client:
    """Change a client's details. Only their own clinicians (not supervisors) may."""
    require_in(clients_writable_by(user=actor), client, detail="Only the client's clinician may change this record.")
    client = update_versioned(client, expected_version=expected_version, changes=changes)
    audit_append(
        actor=actor,
        action="update",
        object_type="client",
        object_ids=[client.pk],
        detail={"fields": sorted(changes)},
    )
    return client


@transaction.atomic
def couple_create(*, actor, partners: list[Client], relationship_type: str, together_since=None) -> Couple:
    """Two distinct clients of the actor's caseload, neither in another active couple."""
    _require_clinician(actor)
    if len(partners) != 2 or partners[0].pk == partners[1].pk:
        raise InvalidInput({"partners": ["A couple is exactly two different clients."]})
    writable = clients_writable_by(user=actor).filter(pk__in=[p.pk for p in partners]).count()
    if writable != 2:
        raise InvalidInput({"partners": ["Both partners must be clients on your caseload."]})
    if CoupleMember.objects.filter(client__in=partners, couple_active=True).exists():
        raise Conflict(
            "A partner is already in an active couple; end that couple first.", code="client_in_active_couple"
        )
    couple = save_valid(Couple(relationship_type=relationship_type, together_since=together_since))
    try:
        with transaction.atomic():
            CoupleMember.objects.bulk_create(
                [CoupleMember(couple=couple, client=client, position=i) for i, client in enumerate(partners, 1)]
            )
    except IntegrityError as exc:  # a concurrent request paired one of them first
        raise Conflict("A partner is already in an active couple.", code="client_in_active_couple") from exc
    audit_append(actor=actor, action="create", object_type="couple", object_ids=[couple.pk])
    return couple


@transaction.atomic
def couple_update(*, actor, couple: Couple, expected_version: int | None, **changes) -> Couple:
    """Change a couple's details or status. Re-activating needs both partners free of other active couples."""
    require_in(couples_writable_by(user=actor), couple, detail="Only the couple's clinician may change this record.")
    status = changes.get("status")
    couple = update_versioned(couple, expected_version=expected_version, changes=changes)
    if status is not None:
        try:
            with transaction.atomic():
                CoupleMember.objects.filter(couple=couple).update(couple_active=status == CoupleStatus.ACTIVE)
        except IntegrityError as exc:
            raise Conflict("A partner is now in another active couple.", code="client_in_active_couple") from exc
    audit_append(
        actor=actor,
        action="update",
        object_type="couple",
        object_ids=[couple.pk],
        detail={"fields": sorted(changes)},
    )
    return couple
