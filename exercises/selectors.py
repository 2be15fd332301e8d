from django.db.models import QuerySet

from .models import Exercise


def exercises_visible_to(*, user) -> QuerySet[Exercise]:
    """The library holds no personal data: every caller the API lets in (clinicians, supervisors, clients) sees
    all of it, the catalog and clinicians' own exercises."""
    return Exercise.objects.filter(current__isnull=False).select_related("current")
