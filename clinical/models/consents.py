"""A client's consents (issue 17). Only the piece reminders need is built: consent to electronic communication,
given in the app and revocable; the other kinds, the document versions and paper or verbal consent are to come."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .base import Record
from .people import Client


class ConsentKind(models.TextChoices):
    ELECTRONIC_COMMUNICATION = "electronic_communication"  # reminders and other contact through the app


@pghistory.track()
class Consent(Record):
    """A client's consent of one kind, from when it was given until it is revoked (never deleted)."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField(max_length=32, choices=ConsentKind.choices)
    given_at = models.DateTimeField(default=timezone.now)
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=ConsentKind.values), name="consent_kind_valid"),
            models.UniqueConstraint(
                fields=["client", "kind"], condition=Q(revoked_at__isnull=True), name="consent_in_force_once"
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="consent_created_id")]

    def __str__(self):
        return f"consent {self.pk}"
