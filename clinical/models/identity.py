import uuid

import pghistory
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from oauth2_provider.models import AbstractApplication

from .base import Record


class Role(models.TextChoices):
    ADMIN = "admin", "Practice admin"
    CLINICIAN = "clinician", "Clinician"
    SUPERVISOR = "supervisor", "Clinical supervisor"
    CLIENT = "client", "Client"


STAFF_ROLES = (Role.CLINICIAN, Role.SUPERVISOR)


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        """E-mail addresses are stored lower-case: one person, one account, however they type it."""
        return (email or "").strip().lower()

    def get_by_natural_key(self, username):
        return self.get(email=self.normalize_email(username))

    def create_user(self, email, password=None, **fields):
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.full_clean()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.setdefault("role", Role.ADMIN)
        fields.setdefault("display_name", "Practice admin")
        return self.create_user(email, password, **fields)


@pghistory.track(exclude=["password", "last_login"])
class User(AbstractBaseUser):
    """An account: the practice admin, a clinician, a supervisor or a client using the app."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=150)
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    objects = UserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lower_case"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="user_role_valid"),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="user_created_id")]

    def __str__(self):
        return self.email


@pghistory.track()
class Supervision(Record):
    """A supervisor oversees a clinician's cases and co-signs their notes. One active supervisor at a time."""

    supervisor = models.ForeignKey(User, on_delete=models.PROTECT, related_name="supervisions_given")
    supervisee = models.ForeignKey(User, on_delete=models.PROTECT, related_name="supervisions_received")
    started_on = models.DateField(default=timezone.localdate)
    ended_on = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(supervisor=models.F("supervisee")), name="supervision_not_self"),
            models.UniqueConstraint(
                fields=["supervisee"], condition=Q(ended_on__isnull=True), name="supervision_one_active"
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                name="supervision_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="supervision_created_id"),
            models.Index(fields=["supervisor"], condition=Q(ended_on__isnull=True), name="supervision_active_by_sup"),
        ]

    def __str__(self):
        return f"{self.supervisor} supervises {self.supervisee}"


class OAuthApplication(AbstractApplication):
    """An OAuth 2 client. Only applications flagged first-party may use the password grant."""

    first_party = models.BooleanField(
        default=False, help_text="Operated by the practice itself; may use the password grant."
    )
