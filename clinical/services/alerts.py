"""Safety alerts: raised by measures (clinical/services/measures.py), acknowledged by the case's clinician or their
supervisor."""

from django.db import transaction
from django.utils import timezone

from clinical.models import SafetyAlert
from clinical.selectors import alerts_visible_to
from kernel.audit import audit_append
from kernel.changes import lock_at_version, require_in, update_versioned
from kernel.errors import Conflict
from kernel.events import happened


@transaction.atomic
def alert_acknowledge(*, actor, alert: SafetyAlert) -> SafetyAlert:
    """The case's clinician or their supervisor confirms they have seen the alert."""
    require_in(alerts_visible_to(user=actor), alert, detail="Only the case's clinician or supervisor.")
    locked = lock_at_version(alert, expected_version=None)
    if locked.acknowledged_at is not None:
        raise Conflict("This alert was already acknowledged.", code="already_acknowledged")
    alert = update_versioned(
        locked, expected_version=None, changes={"acknowledged_by": actor, "acknowledged_at": timezone.now()}
    )
    audit_append(actor=actor, action="acknowledge", object_type="alert", object_ids=[alert.pk])
    happened("alert.acknowledged", alert=alert, case=alert.case_id, client=alert.client_id)
    return alert
