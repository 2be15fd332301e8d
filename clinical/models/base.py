import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def not_in_future(value) -> None:
    if value > timezone.localdate():
        raise ValidationError("This date is in the future.", code="future_date")


class Record(models.Model):
    """Columns every API resource shares: a UUID, creation and change times, and an ETag version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Raised by every service that changes the row; the API's ETag is this number.
    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True
