from django.core.exceptions import ValidationError
from django.utils import timezone

from kernel.models import Record


def not_in_future(value) -> None:
    if value > timezone.localdate():
        raise ValidationError("This date is in the future.", code="future_date")


__all__ = ["Record", "not_in_future"]
