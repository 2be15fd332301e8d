from django.db.models import QuerySet

from .models import Exercise


def exercises_visible_to(*, user) -> QuerySet[Exercise]:
    """The library holds no personal data: every signed-in caller sees all of it (catalog and clinicians' own)."""
    return Exercise.objects.filter(current__isnull=False).select_related("current")
