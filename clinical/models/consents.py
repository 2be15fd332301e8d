"""A client's consents (issue 17): to treatment, to electronic communication, to a release of records to a named
party for a purpose, to recording — each to a version of a consent document, given in the app, on paper or
verbally before a witness, and revocable (never deleted)."""

import pghistory
import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinical.fields import EncryptedTextField

from .base import Record
from .people import Client


class ConsentKind(models.TextChoices):
    TREATMENT = "treatment"  # to be treated; a couple case opens when both partners gave it
    ELECTRONIC_COMMUNICATION = "electronic_communication"  # reminders and other contact through the app
    RELEASE_OF_RECORDS = "release_of_records"  # to a named party, for a stated purpose
    RECORDING = "recording"  # sessions may be recorded


class ConsentMethod(models.TextChoices):
    APP = "app"  # the client, signed in, in the app
    PAPER = "paper"  # a signed form, recorded by the clinician
    VERBAL = "verbal"  # said aloud before a witness, recorded by the clinician


class ConsentDocument(Record):
    """The text a client consents to, as the practice published it. Immutable: a changed text is a new version,
    and a consent keeps the version it was given to. Not PHI (the same for every client)."""

    kind = models.CharField(max_length=32, choices=ConsentKind.choices)
    title = models.CharField(max_length=200)
    version = models.CharField(max_length=40)
    text = models.TextField()
    digest = models.CharField(max_length=64)  # SHA-256 of the text, hex
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # none for the documents the product ships

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_document_kind_valid"),
            models.UniqueConstraint(fields=["kind", "version"], name="consent_document_version_unique"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="consent_document_created_id")]

    def __str__(self):
        return f"consent document {self.kind} {self.version}"


@pghistory.track()
class Consent(Record):
    """A client's consent of one kind, from when it was given until it is revoked (never deleted). At most one of
    a kind is in force at a time, except releases: one per party and purpose."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField(max_length=32, choices=ConsentKind.choices)
    document = models.ForeignKey(ConsentDocument, on_delete=models.PROTECT, related_name="consents")
    method = models.CharField(max_length=16, choices=ConsentMethod.choices, default=ConsentMethod.APP)
    witness = models.CharField(max_length=200, blank=True)  # who heard a verbal consent
    released_to = models.CharField(max_length=200, blank=True)  # a release: to whom
    release_purpose = models.CharField(max_length=500, blank=True)  # a release: what for
    given_at = models.DateTimeField(default=timezone.now)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")  # who recorded
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_kind_valid"),
            models.CheckConstraint(condition=Q(method__in=ConsentMethod.values), name="consent_method_valid"),
            models.CheckConstraint(
                condition=~Q(method=ConsentMethod.VERBAL) | ~Q(witness=""), name="consent_verbal_has_witness"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=ConsentKind.RELEASE_OF_RECORDS) & ~Q(released_to="") & ~Q(release_purpose="")
                    | ~Q(kind=ConsentKind.RELEASE_OF_RECORDS) & Q(released_to="", release_purpose="")
                ),
                name="consent_release_names_party_and_purpose",
            ),
            models.UniqueConstraint(
                fields=["client", "kind"],
                condition=Q(revoked_at__isnull=True) & ~Q(kind=ConsentKind.RELEASE_OF_RECORDS),
                name="consent_in_force_once",
            ),
            models.UniqueConstraint(
                fields=["client", "kind", "released_to", "release_purpose"],
                condition=Q(revoked_at__isnull=True, kind=ConsentKind.RELEASE_OF_RECORDS),
                name="consent_release_in_force_once",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="consent_created_id"),
            models.Index(fields=["client", "kind"], name="consent_by_client_kind"),
        ]

    def __str__(self):
        return f"consent {self.pk}"


class RecordRelease(Record):
    """A release of a case's record to a named party, made by the case's clinician with a release consent in force
    from every client of the case (both partners of a couple). It keeps exactly what was released: the document as
    sent (encrypted at rest, like note text), its SHA-256 digest and the ids of every record in it, so the release can
    be read again byte for byte whatever happens to the records later. Never changed, never removed."""

    case = models.ForeignKey("clinical.Case", on_delete=models.PROTECT, related_name="releases")
    released_to = models.CharField(max_length=200)
    purpose = models.CharField(max_length=500)
    policy = models.CharField(max_length=20, blank=True)  # the case's confidentiality policy when released
    consents = models.ManyToManyField(Consent, related_name="releases")  # the consents it relied on
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    document = EncryptedTextField()  # the JSON document as released
    digest = models.CharField(max_length=64)  # SHA-256 of the document's UTF-8 bytes, hex
    contents = models.JSONField(default=dict)  # {kind of record: [ids]}: ids only, never contents

    class Meta:
        indexes = [models.Index(fields=["created_at", "id"], name="release_created_id")]
        triggers = [
            pgtrigger.Protect(name="record_releases_are_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self):
        return f"release {self.pk}"
