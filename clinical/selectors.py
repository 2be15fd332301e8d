"""Reads. Each `*_visible_to` decides what one user may reach; the API never widens it."""

from django.db.models import QuerySet

from clinical.models import STAFF_ROLES, Role, Supervision, User


def clinicians_visible_to(*, user: User) -> QuerySet[User]:
    """Clinician and supervisor accounts: the practice admin sees them all, nobody else any."""
    if user.role != Role.ADMIN:
        return User.objects.none()
    return User.objects.filter(role__in=STAFF_ROLES)


def supervisions_visible_to(*, user: User) -> QuerySet[Supervision]:
    """Supervision relations: all for the admin; a supervisor's own; a clinician's own."""
    qs = Supervision.objects.select_related("supervisor", "supervisee")
    if user.role == Role.ADMIN:
        return qs
    if user.role == Role.SUPERVISOR:
        return qs.filter(supervisor=user) | qs.filter(supervisee=user)
    if user.role == Role.CLINICIAN:
        return qs.filter(supervisee=user)
    return qs.none()


def active_supervisor_of(*, clinician: User) -> User | None:
    supervision = (
        Supervision.objects.select_related("supervisor")
        .filter(supervisee=clinician, ended_on__isnull=True)
        .first()
    )
    return supervision.supervisor if supervision else None
