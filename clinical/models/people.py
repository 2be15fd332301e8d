import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q

from .base import Record, not_in_future


class ClientStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DISCHARGED = "discharged"


# What a clinician records about a client, and may change.
CLIENT_DETAILS = (
    "given_name",
    "family_name",
    "preferred_name",
    "pronouns",
    "date_of_birth",
    "email",
    "phone",
    "status",
)


@pghistory.track()
class Client(Record):
    """A person in care. Their login (`user`), if any, is how the mobile app finds them."""

    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    date_of_birth = models.DateField(null=True, blank=True, validators=[not_in_future])
    email = models.EmailField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=ClientStatus.choices, default=ClientStatus.ACTIVE)
    primary_clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="client_record",
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(status__in=ClientStatus.values), name="client_status_valid")]
        indexes = [
            models.Index(fields=["created_at", "id"], name="client_created_id"),
            models.Index(fields=["primary_clinician", "created_at", "id"], name="client_by_clinician"),
        ]

    def __str__(self):
        return f"client {self.pk}"


class RelationshipType(models.TextChoices):
    MARRIED = "married"
    PARTNERED = "partnered"
    DATING = "dating"
    SEPARATED = "separated"
    OTHER = "other"


class CoupleStatus(models.TextChoices):
    ACTIVE = "active"
    ENDED = "ended"


@pghistory.track()
class Couple(Record):
    """Two distinct clients seen together. A client belongs to at most one active couple."""

    relationship_type = models.CharField(max_length=16, choices=RelationshipType.choices)
    together_since = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=CoupleStatus.choices, default=CoupleStatus.ACTIVE)
    partners = models.ManyToManyField(Client, through="CoupleMember", related_name="couples")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CoupleStatus.values), name="couple_status_valid"),
            models.CheckConstraint(
                condition=Q(relationship_type__in=RelationshipType.values),
                name="couple_relationship_type_valid",
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="couple_created_id")]

    def __str__(self):
        return f"couple {self.pk}"


@pghistory.track()
class CoupleMember(models.Model):
    """One partner of a couple. `couple_active` mirrors the couple's status so that the database itself
    can refuse a second active couple for the same client (a partial unique index)."""

    couple = models.ForeignKey(Couple, on_delete=models.CASCADE, related_name="members")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="memberships")
    position = models.PositiveSmallIntegerField()
    couple_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["couple", "position"], name="couple_member_position_unique"),
            models.UniqueConstraint(fields=["couple", "client"], name="couple_member_distinct"),
            models.CheckConstraint(condition=Q(position__in=[1, 2]), name="couple_has_two_positions"),
            models.UniqueConstraint(
                fields=["client"], condition=Q(couple_active=True), name="client_in_one_active_couple"
            ),
        ]

    def __str__(self):
        return f"partner {self.position} of {self.couple_id}"
