"""Consents (issue 17): the documents a practice asks consent to, a client's consent given in the app or recorded
by their clinician from paper or a witnessed verbal consent, and its revocation."""

import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clinical.consent_documents import BUILTIN_DOCUMENTS, BUILTIN_VERSION
from clinical.models import Client, Consent, ConsentDocument, ConsentKind, ConsentMethod, RecordRelease, Role
from clinical.releases import ReleaseContents, case_clients, release_contents
from clinical.selectors import (
    cases_writable_by,
    clients_without_consent,
    clients_writable_by,
    current_consent_document,
)
from kernel.audit import audit_append
from kernel.changes import lock_at_version, require_in, save_valid, update_versioned
from kernel.errors import Conflict, InvalidInput, NotAllowed

BUILTIN_NAMESPACE = uuid.UUID("5f1d0c57-3c1e-4a7e-9a44-6c6f6e73656e")
BUILTIN_PUBLISHED = datetime(2026, 12, 1, tzinfo=UTC)  # the day the product first shipped them


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def consent_documents_builtin_load(*, using: str = "default") -> int:
    """Publish the documents the product ships (clinical/consent_documents.py) where they are missing; after every
    migrate and flush (clinical/apps.py). Returns how many were published."""
    published = 0
    for kind, (title, text) in BUILTIN_DOCUMENTS.items():
        _, created = ConsentDocument.objects.using(using).get_or_create(
            kind=kind,
            version=BUILTIN_VERSION,
            # The same id in every practice, and no draw of randomness (the examples' seeded run stays as it was).
            defaults={
                "id": uuid.uuid5(BUILTIN_NAMESPACE, kind),
                "title": title,
                "text": text,
                "digest": text_digest(text),
                "created_at": BUILTIN_PUBLISHED,
                "updated_at": BUILTIN_PUBLISHED,
            },
        )
        published += created
    return published


@transaction.atomic
def consent_document_publish(*, actor, kind: str, title: str, version: str, text: str) -> ConsentDocument:
    """The practice admin publishes a document's new version; from now on clients are asked to consent to it.
    Consents given to earlier versions stay as they were given."""
    if actor.role != Role.ADMIN:
        raise NotAllowed("Only the practice admin publishes consent documents.", code="role_not_allowed")
    if ConsentDocument.objects.select_for_update().filter(kind=kind, version=version).exists():
        raise Conflict(
            f"A {kind} document of version {version!r} is already published; a changed text is a new version.",
            code="consent_document_version_taken",
        )
    digest = text_digest(text)
    current = current_consent_document(kind)
    if current is not None and current.digest == digest and current.title == title:
        raise Conflict(
            "This text is the current document's own; publish a version only when the text changes.",
            code="consent_document_unchanged",
        )
    document = save_valid(
        ConsentDocument(kind=kind, title=title, version=version, text=text, digest=digest, published_by=actor)
    )
    audit_append(
        actor=actor,
        action="publish",
        object_type="consent_document",
        object_ids=[document.pk],
        detail={"kind": kind, "version": version},
    )
    return document


def _document_for(kind: str, document: ConsentDocument | None) -> ConsentDocument:
    if document is not None:
        if document.kind != kind:
            raise InvalidInput({"document": [f"This document is not a {kind} document."]})
        return document
    current = current_consent_document(kind)
    if current is None:
        raise Conflict(f"The practice has no {kind} document to consent to.", code="consent_document_missing")
    return current


def _release_terms(kind: str, released_to: str, release_purpose: str) -> dict:
    released_to, release_purpose = released_to.strip(), release_purpose.strip()
    if kind == ConsentKind.RELEASE_OF_RECORDS:
        errors = {}
        if not released_to:
            errors["released_to"] = ["A release names who receives the records."]
        if not release_purpose:
            errors["release_purpose"] = ["A release states what the records are for."]
        if errors:
            raise InvalidInput(errors)
    elif released_to or release_purpose:
        raise InvalidInput({"released_to": ["Only a release of records names a party and a purpose."]})
    return {"released_to": released_to, "release_purpose": release_purpose}


def _give(*, actor, client: Client, kind: str, document, terms: dict, **how) -> Consent:
    """The consent, or the same one already in force (consenting twice is one consent)."""
    document = _document_for(kind, document)
    current = (
        Consent.objects.select_for_update().filter(client=client, kind=kind, revoked_at__isnull=True, **terms).first()
    )
    if current is not None:
        return current
    consent = save_valid(Consent(client=client, kind=kind, document=document, given_by=actor, **terms, **how))
    audit_append(
        actor=actor,
        action="consent",
        object_type="consent",
        object_ids=[consent.pk],
        detail={"kind": kind, "document": str(document.pk), "method": consent.method},
    )
    return consent


@transaction.atomic
def consent_give(
    *, actor, kind: str, document: ConsentDocument | None = None, released_to: str = "", release_purpose: str = ""
) -> Consent:
    """The caller (a client) consents in the app to `document` (the current one of `kind` when none is named).
    Consenting again while it is in force is the same consent."""
    client = Client.objects.filter(user=actor).first()
    if client is None:
        raise NotAllowed("Only a client in care consents here.", code="not_a_client")
    terms = _release_terms(kind, released_to, release_purpose)
    return _give(actor=actor, client=client, kind=kind, document=document, terms=terms, method=ConsentMethod.APP)


@transaction.atomic
def consent_record(
    *,
    actor,
    client: Client,
    kind: str,
    method: str,
    document: ConsentDocument | None = None,
    witness: str = "",
    given_at=None,
    released_to: str = "",
    release_purpose: str = "",
) -> Consent:
    """A client's clinician records a consent given on paper, or verbally before a named witness."""
    require_in(
        clients_writable_by(user=actor),
        client,
        detail="Only the client's clinician records their consent.",
        code="not_case_clinician",
    )
    if method not in (ConsentMethod.PAPER, ConsentMethod.VERBAL):
        raise InvalidInput({"method": ["A clinician records a consent given on paper or verbally."]})
    if method == ConsentMethod.VERBAL and not witness.strip():
        raise InvalidInput({"witness": ["A verbal consent names who witnessed it."]})
    given_at = given_at or timezone.now()
    if given_at > timezone.now():
        raise InvalidInput({"given_at": ["A consent cannot be given in the future."]})
    terms = _release_terms(kind, released_to, release_purpose)
    return _give(
        actor=actor,
        client=client,
        kind=kind,
        document=document,
        terms=terms,
        method=method,
        witness=witness.strip(),
        given_at=given_at,
    )


@transaction.atomic
def consent_revoke(*, actor, consent: Consent) -> Consent:
    """The consent ends now (kept, with when and by whom it was revoked): by the client in the app, or by their
    clinician recording a revocation told to them. Idempotent."""
    if actor.role != Role.CLIENT:
        require_in(
            clients_writable_by(user=actor),
            consent.client,
            detail="Only the client's clinician records a revocation.",
            code="not_case_clinician",
        )
    locked = lock_at_version(consent, expected_version=None)
    if locked.revoked_at is not None:
        return locked
    consent = update_versioned(
        locked, expected_version=None, changes={"revoked_at": timezone.now(), "revoked_by": actor}, locked=True
    )
    audit_append(actor=actor, action="revoke", object_type="consent", object_ids=[consent.pk])
    return consent


def require_treatment_consents(clients: list[Client]) -> None:
    """Every one of `clients` has consented to treatment (a couple case opens, or its first joint session is booked,
    only then: settings.COUPLE_CONSENT_REQUIRED_BEFORE)."""
    missing = clients_without_consent(clients=clients)
    if missing:
        raise Conflict(
            "Both partners consent to treatment before couple work begins; "
            f"{len(missing)} of them {'has' if len(missing) == 1 else 'have'} not.",
            code="consent_missing",
            missing=[{"client": str(client.pk), "kind": "treatment"} for client in missing],
        )


def consent_required_before(moment: str) -> bool:
    return moment == settings.COUPLE_CONSENT_REQUIRED_BEFORE


def _party(name: str) -> str:
    """A party or purpose as compared: case and spacing aside ('Dr. Lee ' is 'dr. lee')."""
    return " ".join(name.split()).casefold()


@transaction.atomic
def release_create(
    *, actor, case, released_to: str, purpose: str, render: Callable[[RecordRelease, ReleaseContents], str]
):
    """The case's clinician releases its record to `released_to` for `purpose`. Every client of the case (both
    partners of a couple) must have a release consent in force naming that party and purpose (409
    `release_consent_missing`, naming who has not, and nothing is written). The record released follows the case's
    confidentiality policy (clinical/releases.py); `render` turns it into the document's text, which is kept as released
    with its digest and the ids of every record in it. Every record in it is audited as read (released)."""
    require_in(
        cases_writable_by(user=actor),
        case,
        detail="Only the case's clinician releases its record.",
        code="not_case_clinician",
    )
    clients = case_clients(case)
    in_force = Consent.objects.filter(
        client__in=clients, kind=ConsentKind.RELEASE_OF_RECORDS, revoked_at__isnull=True
    ).select_for_update()  # a revocation waits for the release, or the release for it
    consents = {}
    for consent in in_force.order_by("given_at", "id"):
        if (_party(consent.released_to), _party(consent.release_purpose)) == (_party(released_to), _party(purpose)):
            consents.setdefault(consent.client_id, consent)
    missing = [client for client in clients if client.pk not in consents]
    if missing:
        raise Conflict(
            f"A release needs every client's consent to release their record to this party for this purpose; "
            f"{len(missing)} of {len(clients)} {'has' if len(missing) == 1 else 'have'} not given it.",
            code="release_consent_missing",
            missing=[{"client": str(client.pk), "kind": ConsentKind.RELEASE_OF_RECORDS} for client in missing],
        )
    # the party and purpose as the consents name them (the first given), however the clinician typed them
    first = min(consents.values(), key=lambda consent: (consent.given_at, str(consent.pk)))
    released_to, purpose = first.released_to, first.release_purpose
    contents = dataclasses.replace(release_contents(case), consents=list(consents.values()))
    release = RecordRelease(
        id=uuid.uuid4(),
        case=case,
        released_to=released_to,
        purpose=purpose,
        policy=contents.policy,
        released_by=actor,
        created_at=timezone.now(),
    )
    document = render(release, contents)
    release.document = document
    release.digest = text_digest(document)
    release.contents = contents.ids()
    release = save_valid(release)
    release.consents.set(consents.values())
    audit_append(
        actor=actor,
        action="release",
        object_type="record_release",
        object_ids=[release.pk],
        detail={"case": str(case.pk), "consents": [str(c.pk) for c in consents.values()], "digest": release.digest},
    )
    for object_type, ids in release.contents.items():
        if ids:
            audit_append(actor=actor, action="read", object_type=object_type, object_ids=ids, detail={"via": "release"})
    return release
