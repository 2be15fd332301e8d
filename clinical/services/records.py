"""Changing a versioned record: the optimistic-concurrency rule every update service shares."""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from clinical.errors import InvalidInput, NotAllowed, StaleVersion


def validation_errors(exc: ValidationError) -> InvalidInput:
    """Turn Django's ValidationError into the domain's InvalidInput, keeping messages per field."""
    if hasattr(exc, "error_dict"):
        errors = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    else:
        errors = {"non_field_errors": list(exc.messages)}
    return InvalidInput(errors)


def record_save(instance: models.Model, *, exclude_validation: list[str] | None = None) -> models.Model:
    """Validate with the model's own rules (fields, constraints) and save."""
    try:
        instance.full_clean(exclude=exclude_validation)
    except ValidationError as exc:
        raise validation_errors(exc) from exc
    instance.save()
    return instance


def require_in(queryset, obj, *, detail: str, code: str = "not_allowed") -> None:
    """The object must be in `queryset` (e.g. what the actor may change); NotAllowed otherwise."""
    if not queryset.filter(pk=obj.pk).exists():
        raise NotAllowed(detail, code=code)


def record_lock(instance: models.Model, *, expected_version: int | None) -> models.Model:
    """Lock the row and check it is still at `expected_version` (None: any). Needs a transaction."""
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"This record is at version {locked.version}, not {expected_version}; fetch it again.",
            current_version=locked.version,
        )
    return locked


@transaction.atomic
def record_update(instance: models.Model, *, expected_version: int | None, changes: dict) -> models.Model:
    """Apply `changes` only if the row is still at `expected_version`; raise the version by one.

    The row is locked for the check, so two writers with the same version cannot both win. Only the
    changed columns are written.
    """
    locked = record_lock(instance, expected_version=expected_version)
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.version += 1
    locked.updated_at = timezone.now()
    try:
        locked.full_clean()
    except ValidationError as exc:
        raise validation_errors(exc) from exc
    locked.save(update_fields=[*changes, "version", "updated_at"])
    return locked
