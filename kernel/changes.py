"""How a record changes: saved only once valid, and changed only at the version the caller last saw (optimistic
concurrency, the rule every update service shares)."""

import functools

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from kernel.errors import InvalidInput, NotAllowed, StaleVersion


def invalid_input(exc: ValidationError) -> InvalidInput:
    """Django's ValidationError as the domain's InvalidInput, keeping messages per field."""
    if hasattr(exc, "error_dict"):
        errors = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    else:
        errors = {"non_field_errors": list(exc.messages)}
    return InvalidInput(errors)


def save_valid(instance: models.Model, *, exclude_validation: list[str] | None = None) -> models.Model:
    """Validate with the model's own rules (fields, constraints) and save."""
    try:
        instance.full_clean(exclude=exclude_validation)
    except ValidationError as exc:
        raise invalid_input(exc) from exc
    instance.save()
    return instance


@functools.cache
def _insert_statement(model) -> tuple[str, list]:
    meta, quote = model._meta, connection.ops.quote_name
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})", fields  # noqa: S608


def insert_plain(instance: models.Model) -> models.Model:
    """`instance.save()` of a new row as one INSERT written once per process per model, its values prepared by
    the model's own fields as save() prepares them (`pre_save`: auto_now; `get_db_prep_save`: encryption). For hot
    paths of models with no save() override and no signal receivers; a database-generated id is not read back."""
    sql, fields = _insert_statement(type(instance))
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields])
    instance._state.adding, instance._state.db = False, connection.alias
    return instance


@functools.cache
def _bump_statement(model) -> str:
    meta, quote = model._meta, connection.ops.quote_name
    return (
        f"UPDATE {quote(meta.db_table)} SET {quote(meta.get_field('version').column)} = %s, "  # noqa: S608
        f"{quote(meta.get_field('updated_at').column)} = %s WHERE {quote(meta.pk.column)} = %s"
    )


def require_in(queryset, obj, *, detail: str, code: str = "not_allowed") -> None:
    """The object must be in `queryset` (e.g. what the actor may change); NotAllowed otherwise."""
    if not queryset.filter(pk=obj.pk).exists():
        raise NotAllowed(detail, code=code)


def lock_at_version(instance: models.Model, *, expected_version: int | None, related: tuple = ()) -> models.Model:
    """Lock the row and check it is still at `expected_version` (None: any). Needs a transaction.
    `related`: foreign keys to read in the same query (their rows are not locked)."""
    rows = type(instance).objects.select_related(*related).select_for_update(of=("self",))
    locked = rows.get(pk=instance.pk)
    if expected_version is not None and locked.version != expected_version:
        raise StaleVersion(
            f"This record is at version {locked.version}, not {expected_version}; fetch it again.",
            current_version=locked.version,
        )
    return locked


def update_versioned(
    instance: models.Model, *, expected_version: int | None, changes: dict, locked: bool = False
) -> models.Model:
    """Apply `changes` only if the row is still at `expected_version`; raise the version by one.

    The row is locked for the check (unless the caller passes a row it locked itself, `locked=True`, in the
    transaction that still holds the lock), so two writers with the same version cannot both win. The changed
    fields, and every constraint and uniqueness rule, are checked with the model's own validation; only the
    changed columns are written.
    """
    if locked:
        return _apply(instance, changes)
    with transaction.atomic():
        return _apply(lock_at_version(instance, expected_version=expected_version), changes)


def _apply(row: models.Model, changes: dict) -> models.Model:
    for field, value in changes.items():
        setattr(row, field, value)
    row.version += 1
    row.updated_at = timezone.now()
    if not changes:  # a new version alone (e.g. progress changed): one statement written once per model
        with connection.cursor() as cursor:
            cursor.execute(_bump_statement(type(row)), [row.version, row.updated_at, row.pk])
        return row
    unchanged = [f.name for f in row._meta.concrete_fields if f.name not in changes]
    try:
        row.full_clean(exclude=unchanged, validate_unique=False, validate_constraints=False)
        row.validate_unique()
        row.validate_constraints()
    except ValidationError as exc:
        raise invalid_input(exc) from exc
    row.save(update_fields=[*changes, "version", "updated_at"])
    return row


def save_racing(save, *, constraint: str, recheck):
    """Run `save` in a savepoint. When the database refuses it for `constraint` (a concurrent request committed the
    row it clashes with after the caller's own check passed), run `recheck` — that check again, which now sees the
    row and raises the caller's answer (a 409 naming it) — and re-raise the error if it does not."""
    try:
        with transaction.atomic():
            return save()
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if diag is not None and diag.constraint_name == constraint:
            recheck()
        raise


def try_advisory_lock(name: str) -> bool:
    """A PostgreSQL advisory lock named `name`, held until the transaction ends; False when another holds it (a
    periodic task already running elsewhere)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", [name])
        return cursor.fetchone()[0]
