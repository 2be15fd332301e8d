"""Sessions: a case's appointments, the rhythm that notes and measures hang on; and the clinician's calendar feed
of them."""

import uuid

import pghistory
from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import RangeOperators
from django.db import models
from django.db.models import Func, Q
from django.utils import timezone

from kernel.models import Record

from .care import Case
from .people import Client


class SessionModality(models.TextChoices):
    IN_PERSON = "in_person"
    VIDEO = "video"
    PHONE = "phone"


class SessionKind(models.TextChoices):
    JOINT = "joint"  # the case's clients together (or the one client of an individual case)
    INDIVIDUAL = "individual"  # one named partner of a couple case, alone


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    CANCELLED = "cancelled"
    LATE_CANCELLED = "late_cancelled"
    NO_SHOW = "no_show"


# The states that hold the clinician's time: a cancelled session frees it.
BOOKED = (SessionStatus.SCHEDULED, SessionStatus.ATTENDED)


class TimeRange(Func):
    """tstzrange(start, end): the half-open interval a session occupies ([start, end), so back to back is fine)."""

    function = "TSTZRANGE"
    output_field = models.DateTimeField()


@pghistory.track()
class Session(Record):
    """One appointment of a case: when, how, with whom, and what became of it. Rescheduling changes the times in
    place (with an ETag); the history table keeps every earlier version."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="sessions")
    # Who holds the session: the case's clinician when it was booked. Double-booking is refused per clinician.
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    modality = models.CharField(max_length=16, choices=SessionModality.choices)
    kind = models.CharField(max_length=16, choices=SessionKind.choices, default=SessionKind.JOINT)
    # An individual session of a couple case: the one partner seen (also its only attendee).
    partner = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    attendees = models.ManyToManyField(Client, related_name="sessions")
    location = models.CharField(max_length=300, blank=True)  # a room or a video link: scoped like the case
    status = models.CharField(max_length=16, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED)
    status_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="session_ends_after_start"),
            models.CheckConstraint(condition=Q(modality__in=SessionModality.values), name="session_modality_valid"),
            models.CheckConstraint(condition=Q(kind__in=SessionKind.values), name="session_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="session_status_valid"),
            models.CheckConstraint(
                condition=Q(kind=SessionKind.INDIVIDUAL, partner__isnull=False)
                | Q(kind=SessionKind.JOINT, partner__isnull=True),
                name="session_partner_iff_individual",
            ),
            # No clinician in two booked sessions at once, whatever runs concurrently (btree_gist).
            ExclusionConstraint(
                name="session_no_double_booking",
                expressions=[
                    ("clinician", RangeOperators.EQUAL),
                    (TimeRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                ],
                condition=Q(status__in=BOOKED),
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="session_created_id"),
            # Covering the status: the reports count a case's sessions by outcome from the index alone.
            models.Index(fields=["case", "starts_at"], include=["status"], name="session_by_case"),
            models.Index(fields=["clinician", "starts_at"], name="session_by_clinician"),
        ]

    def __str__(self):
        return f"session {self.pk}"


# The session rating's items, each 0 (not at all) to 10 (completely): a brief alliance scale written for this
# product (docs/outcome-measures.md), not a licensed instrument.
RATING_ITEMS = ("heard", "goals", "approach", "overall")
RATING_MAX = 10


@pghistory.track()
class SessionRating(Record):
    """One attending client's rating of one attended session. Seen by the clinician and supervisors, never by the
    other partner. Editable by its client for 24 hours (the history keeps each version)."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="ratings")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="session_ratings")
    heard = models.PositiveSmallIntegerField()  # I felt heard, understood and respected
    goals = models.PositiveSmallIntegerField()  # we worked on what I wanted to work on
    approach = models.PositiveSmallIntegerField()  # the therapist's approach fits us
    overall = models.PositiveSmallIntegerField()  # overall, today's session was right for me

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "client"], name="rating_once_per_session_and_client"),
            *(
                models.CheckConstraint(condition=Q(**{f"{item}__lte": RATING_MAX}), name=f"rating_{item}_range")
                for item in RATING_ITEMS
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="rating_created_id")]

    @property
    def total(self) -> int:
        return sum(getattr(self, item) for item in RATING_ITEMS)

    def __str__(self):
        return f"rating {self.pk}"


class CalendarFeed(models.Model):
    """A clinician's private iCalendar feed of the sessions they hold, read by their calendar app at a URL that
    carries a secret. Only the secret's SHA-256 is stored (kernel.tokens); enabling again replaces the feed (the
    old URL stops answering), and revoking ends it. At most one feed per clinician is live."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calendar_feeds")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="one_live_calendar_feed_per_user"
            ),
        ]

    def __str__(self):
        return f"calendar feed {self.pk}"
