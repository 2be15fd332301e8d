"""Couple safety (issue 17): a private partner-violence screen per partner, and the conjoint hold a positive one
places on the couple's case. Both are the clinician's and their supervisors' only: no client ever reads them, and
nothing a client reads changes because of them."""

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinical.fields import EncryptedTextField

from .base import Record, not_in_future
from .care import Case
from .people import Client


class ScreenResult(models.TextChoices):
    NEGATIVE = "negative"
    POSITIVE = "positive"  # places a conjoint hold on the case
    DECLINED = "declined"  # the partner declined to answer


@pghistory.track()
class SafetyScreen(Record):
    """One partner's partner-violence screen on a couple case, done with that partner seen alone. Kept as
    recorded (a later screen is a new row); the notes are encrypted like note text."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="safety_screens")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="safety_screens")
    screened_on = models.DateField(default=timezone.localdate, validators=[not_in_future])
    result = models.CharField(max_length=16, choices=ScreenResult.choices)
    notes = EncryptedTextField(null=True, blank=True)  # empty is stored as NULL (clinical/fields.py)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(result__in=ScreenResult.values), name="screen_result_valid")]
        indexes = [
            models.Index(fields=["created_at", "id"], name="safety_screen_created_id"),
            models.Index(fields=["case", "client"], name="safety_screen_by_case"),
        ]

    def __str__(self):
        return f"safety screen {self.pk}"


class HoldStatus(models.TextChoices):
    HELD = "held"  # joint work refused until the clinician decides
    CONTINUE_JOINTLY = "continue_jointly"  # decided: joint work goes on, with a safety plan
    INDIVIDUAL_WORK = "individual_work"  # decided: each partner is seen alone; joint work stays refused
    CLOSED = "closed"  # decided: the case closed


# Where joint homework and joint sessions are refused.
HOLDING = (HoldStatus.HELD, HoldStatus.INDIVIDUAL_WORK)


@pghistory.track()
class ConjointHold(Record):
    """Joint work on a couple case held after a positive screen, until the clinician records a decision with its
    reason. One hold at a time per case; a decision to work individually may later become one of the others."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="conjoint_holds")
    screen = models.ForeignKey(SafetyScreen, on_delete=models.PROTECT, related_name="+")  # the screen that placed it
    status = models.CharField(max_length=20, choices=HoldStatus.choices, default=HoldStatus.HELD)
    reason = models.TextField(blank=True)  # the decision's reason
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=HoldStatus.values), name="hold_status_valid"),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.HELD, decided_at__isnull=True, reason="")
                | ~Q(status=HoldStatus.HELD) & Q(decided_at__isnull=False) & ~Q(reason=""),
                name="hold_decision_has_reason",
            ),
            models.UniqueConstraint(fields=["case"], condition=Q(status__in=HOLDING), name="hold_one_per_case"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="conjoint_hold_created_id")]

    def __str__(self):
        return f"conjoint hold {self.pk}"
