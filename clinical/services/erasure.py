"""The right to erasure (issue 17): the practice admin erases a client who has left care.

One rule per kind of record, decided here and answered per kind with a count and the reason, never a record's
contents (the admin reads no clinical content):

- erased: what exists only to reach the client or to run their app (push devices and the reminders sent to them,
  notification preferences, invitations, the login's tokens), the copies kept by the apps above the domain (stored
  idempotent answers, FHIR bulk export files: kernel.erasure), and draft notes about the client alone (never
  signed, so not part of the record of care).
- pseudonymised: who the client is. The client record's names, pronouns, date of birth, e-mail and phone, and their
  login's e-mail and name (the login is deactivated and loses its password), in the rows and in every copy the row
  history kept of them. The client's id stays: the kept records hang on it, and nothing left ties it to a person.
- kept for the retention period (RECORD_RETENTION_YEARS after the client's last case closed): the record of care a
  practice must keep. Cases, goals, signed notes and their addenda, homework and the client's submissions, measures
  and schedules, safety alerts, sessions and ratings, couples, consents (those in force end now).
- kept unchanged: the audit trail. It is a hash chain, so changing or removing one event would break it (and
  `audit_verify` with it); its events name people by id only, and those ids now lead to pseudonyms.

Erasing one partner of a couple changes nothing of the other's: joint records stay (they are the other partner's
record too), and every count is of this client's records only, so the answer says nothing about the partner.
"""

from datetime import date

import pgtrigger
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from clinical.models import (
    Assessment,
    AssessmentSchedule,
    AuditEvent,
    Case,
    CaseStatus,
    Client,
    ClientInvitation,
    Consent,
    CoupleMember,
    Device,
    ErasureOutcome,
    ErasureRequest,
    GoalAttainmentRating,
    HomeworkAssignment,
    HomeworkSubmission,
    NoteAddendum,
    NoteStatus,
    NotificationPreferences,
    ProgressNote,
    Reminder,
    Role,
    SafetyAlert,
    Session,
    SessionRating,
    TreatmentGoal,
    User,
)
from kernel.audit import audit_append
from kernel.changes import save_valid, update_versioned
from kernel.erasure import erase_elsewhere
from kernel.errors import Conflict, NotAllowed

# What a client record says of who they are, and what it says after the erasure.
CLIENT_PSEUDONYM = {
    "given_name": "Erased",
    "family_name": "Client",
    "preferred_name": "",
    "pronouns": "",
    "date_of_birth": None,
    "email": "",
    "phone": "",
}
LOGIN_NAME = "Erased client"


def login_pseudonym(user: User) -> dict:
    """A login's e-mail and name after the erasure: unique (e-mail addresses are), and at a reserved domain that
    reaches nobody (RFC 2606)."""
    return {"email": f"erased-{user.pk.hex}@erased.invalid", "display_name": LOGIN_NAME}


def retention_end(last_day: date) -> date:
    """RECORD_RETENTION_YEARS after `last_day` (a 29 February ends on the 28th)."""
    year = last_day.year + settings.RECORD_RETENTION_YEARS
    try:
        return last_day.replace(year=year)
    except ValueError:
        return last_day.replace(year=year, day=28)


def _entry(record_type: str, outcome: str, count: int, reason: str, *, fields=(), kept_until=None) -> dict:
    return {
        "record_type": record_type,
        "outcome": outcome,
        "count": count,
        "fields": list(fields),
        "kept_until": kept_until.isoformat() if kept_until else None,
        "reason": reason,
    }


@transaction.atomic
def erasure_request_create(*, actor: User, client: Client, reason: str) -> ErasureRequest:
    """Erase a client who has left care, exactly once: refused while any case of theirs (alone or with their partner)
    is open or paused, and for a client erased before. Everything happens in the caller's transaction, all of it or
    none of it; the answer says, per kind of record, what was erased, pseudonymised or kept, how many, and why."""
    if actor.role != Role.ADMIN:
        raise NotAllowed("Only the practice admin erases a client.")
    client = Client.objects.select_for_update().get(pk=client.pk)  # one erasure at a time per client
    done = ErasureRequest.objects.filter(client=client).first()
    if done is not None:
        raise Conflict(
            "This client was erased already; the erasure's answer says what was done.",
            code="client_already_erased",
            erasure_request=str(done.pk),
        )
    cases = Case.objects.filter(Q(client=client) | Q(couple__members__client=client))
    if cases.exclude(status=CaseStatus.CLOSED).exists():
        raise Conflict(
            "This client is still in care: a case of theirs (alone or with their partner) is open or paused. "
            "Their clinician closes it first.",
            code="client_has_open_case",
        )
    now = timezone.now()
    until = retention_end(cases.aggregate(last=Max("closed_on"))["last"] or timezone.localdate())
    user = User.objects.filter(pk=client.user_id).first()
    kept = _kept(client, user, until, now)
    erased = _erase(client, user)
    pseudonymised = _pseudonymise(client, user)
    erasure = save_valid(
        ErasureRequest(
            client=client,
            requested_by=actor,
            reason=reason,
            erased_at=now,
            retained_until=until,
            outcome=[*erased, *pseudonymised, *kept],
        )
    )
    audit_append(
        actor=actor,
        action="erase",
        object_type="client",
        object_ids=[client.pk],
        detail={"erasure_request": str(erasure.pk)},
    )
    return erasure


def _erase(client: Client, user: User | None) -> list[dict]:
    """Delete what exists only to reach the client or to run their app, and draft notes about them alone."""
    devices = Device.objects.filter(user=user) if user else Device.objects.none()
    reminders = Reminder.objects.filter(Q(client=client) | Q(device__in=devices))
    reminder_count = reminders.delete()[0]
    device_count = devices.delete()[0]
    preferences = NotificationPreferences.objects.filter(user=user).delete()[0] if user else 0
    invitations = ClientInvitation.objects.filter(client=client).delete()[0]
    tokens = _tokens_deleted(user) if user else 0
    drafts = list(
        ProgressNote.objects.filter(status=NoteStatus.DRAFT)
        .filter(Q(case__client=client) | Q(partner=client))
        .values_list("pk", flat=True)
    )
    with pgtrigger.ignore("clinical.ProgressNote:notes_are_never_deleted"):
        ProgressNote.objects.filter(pk__in=drafts).delete()
    ProgressNote.pgh_event_model.objects.filter(pgh_obj_id__in=drafts).delete()  # their earlier versions
    app_only = "Only there to reach the client or to run their app; nothing of the care is lost with it."
    return [
        _entry("device", ErasureOutcome.ERASED, device_count, "The app installs that took reminders. " + app_only),
        _entry("reminder", ErasureOutcome.ERASED, reminder_count, "The reminders sent to them. " + app_only),
        _entry(
            "notification_preferences", ErasureOutcome.ERASED, preferences, "Time zone and quiet hours. " + app_only
        ),
        _entry("invitation", ErasureOutcome.ERASED, invitations, "Invitations to create the app login. " + app_only),
        _entry("login_token", ErasureOutcome.ERASED, tokens, "The login's OAuth tokens and grants. " + app_only),
        _entry(
            "draft_note",
            ErasureOutcome.ERASED,
            len(drafts),
            "Unsigned notes about the client alone (an individual case, or an individual session of a couple case) "
            "and their earlier versions: never signed, so not part of the record of care.",
        ),
        *(
            _entry(e.record_type, ErasureOutcome.ERASED, e.count, e.reason)
            for e in erase_elsewhere(client_id=client.pk, user_id=user.pk if user else None)
        ),
    ]


def _tokens_deleted(user: User) -> int:
    """Delete every OAuth token, grant and ID token of the login (the API's token cache drops them at once)."""
    from oauth2_provider.models import (
        get_access_token_model,
        get_grant_model,
        get_id_token_model,
        get_refresh_token_model,
    )

    models = (get_refresh_token_model(), get_access_token_model(), get_grant_model(), get_id_token_model())
    return sum(model.objects.filter(user=user).delete()[1].get(model._meta.label, 0) for model in models)


def _pseudonymise(client: Client, user: User | None) -> list[dict]:
    """Replace who the client is in their record and their login, and in every earlier version row history kept."""
    update_versioned(client, expected_version=None, changes=dict(CLIENT_PSEUDONYM))
    history = Client.pgh_event_model.objects.filter(pgh_obj_id=client.pk).update(**CLIENT_PSEUDONYM)
    if user is not None:
        pseudonym = login_pseudonym(user)
        update_versioned(
            user, expected_version=None, changes={**pseudonym, "is_active": False, "password": make_password(None)}
        )
        history += User.pgh_event_model.objects.filter(pgh_obj_id=user.pk).update(**pseudonym)
    why = "Who the client is. The id stays, so that the kept records still hang together; nothing ties it to a person."
    return [
        _entry("client", ErasureOutcome.PSEUDONYMISED, 1, why, fields=CLIENT_PSEUDONYM),
        _entry(
            "login",
            ErasureOutcome.PSEUDONYMISED,
            int(user is not None),
            "The app login, deactivated and without a password; its row stays because the audit trail names it by "
            "id. Nothing ties it to a person.",
            fields=("email", "display_name"),
        ),
        _entry(
            "row_history",
            ErasureOutcome.PSEUDONYMISED,
            history,
            "Earlier versions of the client record and the login, kept by row history: the same fields replaced in "
            "each. The history of the clinical records is kept with them.",
            fields=(*CLIENT_PSEUDONYM, "login.email", "login.display_name"),
        ),
    ]


def _kept(client: Client, user: User | None, until: date, now) -> list[dict]:
    """Count what stays for the retention period (this client's records only), and end the consents in force."""
    cases = Case.objects.filter(Q(client=client) | Q(couple__members__client=client))
    # A note of a couple case about the other partner alone is the other partner's record, not this client's.
    notes = ProgressNote.objects.filter(case__in=cases).filter(Q(partner__isnull=True) | Q(partner=client))
    notes = notes.exclude(Q(status=NoteStatus.DRAFT) & (Q(case__client=client) | Q(partner=client)))
    in_force = list(Consent.objects.filter(client=client, revoked_at__isnull=True))
    for consent in in_force:
        update_versioned(consent, expected_version=None, changes={"revoked_at": now})
    retention = (
        f"Kept until {until.isoformat()}: {settings.RECORD_RETENTION_YEARS} years (RECORD_RETENTION_YEARS, the "
        "practice's legal retention period) after the client's last case closed."
    )
    counts = [
        ("case", cases.count(), "Episodes of care, alone or as a couple."),
        ("goal", TreatmentGoal.objects.filter(case__in=cases).count(), "The goals of those cases."),
        (
            "goal_attainment_rating",
            GoalAttainmentRating.objects.filter(goal__case__in=cases).count(),
            "The clinician's ratings of those goals.",
        ),
        (
            "progress_note",
            notes.count(),
            "Signed notes are the legal record of care and never change (also those entered in error); a joint "
            "draft on a couple case stays with the other partner's record.",
        ),
        (
            "note_addendum",
            NoteAddendum.objects.filter(note__in=notes).count(),
            "Additions to signed notes, part of them.",
        ),
        (
            "assignment",
            HomeworkAssignment.objects.filter(assignees=client).count(),
            "Homework given to the client: the plan of care.",
        ),
        (
            "submission",
            HomeworkSubmission.objects.filter(client=client).count(),
            "The client's homework answers, every revision: evidence of the care given.",
        ),
        ("assessment", Assessment.objects.filter(client=client).count(), "The client's measures: evidence of care."),
        (
            "assessment_schedule",
            AssessmentSchedule.objects.filter(client=client).count(),
            "Which measures the client was asked for, and when.",
        ),
        ("safety_alert", SafetyAlert.objects.filter(client=client).count(), "Risks raised, and who acknowledged them."),
        (
            "session",
            Session.objects.filter(Q(attendees=client) | Q(partner=client)).distinct().count(),
            "The sessions the client attended or was booked for.",
        ),
        (
            "session_rating",
            SessionRating.objects.filter(client=client).count(),
            "The client's ratings of their sessions.",
        ),
        ("couple", CoupleMember.objects.filter(client=client).count(), "The couples the client was a partner in."),
        (
            "consent",
            Consent.objects.filter(client=client).count(),
            f"What the client consented to, and when: proof of it ({len(in_force)} in force ended at the erasure).",
        ),
    ]
    kept = [_entry(name, ErasureOutcome.KEPT, n, f"{why} {retention}", kept_until=until) for name, n, why in counts]
    trail = AuditEvent.objects.filter(actor=user).count() if user else 0
    kept.append(
        _entry(
            "audit_event",
            ErasureOutcome.KEPT,
            trail,
            "What the client's login read and changed (those counted; staff's events naming the client are kept "
            "too). Unchanged: the trail is a hash chain, so changing or removing one event would break it; its events "
            f"name people by id only, and those ids now lead to pseudonyms. {retention} The trail is cut only from "
            "its oldest end, never per client.",
            kept_until=until,
        )
    )
    return kept
