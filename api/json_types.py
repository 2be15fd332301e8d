"""Request bodies take JSON's own types, and values a person could mean.

DRF converts what it can: a number sent for a text field is kept as its digits, "5" passes for an integer, 1 and
"yes" for true, an integer for a UUID. The schema promises string, integer, boolean, so a value of another JSON
type answers 400 naming the field, instead of being stored converted. Request serializers mix in `JSONTypes`;
it checks nested serializers, lists and dicts of the body too, and the same rules hold for every request:

- an instant (date and time) carries its UTC offset: `2026-11-21T09:30:00Z`, never a bare local time;
- a date is on the calendar (`2026-02-30` is not) and between 1900-01-01 and five years from today;
- text holds no control characters but tab and line breaks, in any field the operation takes (homework answers
  included); what it does not take is ignored, as before.

Query serializers mix it in too: their values are all strings, and dates and instants follow the same rules.
"""

import re
from collections.abc import Mapping
from datetime import date

from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import _UnvalidatedField

from .filters import INSTANT, instant

EARLIEST_DATE = date(1900, 1, 1)
HORIZON_YEARS = 5
DATE_RANGE = f"A date from {EARLIEST_DATE.isoformat()} to {HORIZON_YEARS} years from today."
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# C0 controls but tab, line feed and carriage return; DEL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_CONTROL_CHARACTERS = "Control characters are not allowed (tabs and line breaks are)."


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The JSON types each kind of field takes; the first match wins (BooleanField before IntegerField: a bool is an int).
EXPECTED = [
    (serializers.BooleanField, lambda v: isinstance(v, bool)),
    (serializers.IntegerField, lambda v: _is_number(v) and (isinstance(v, int) or v.is_integer())),
    (serializers.FloatField, _is_number),
    (serializers.UUIDField, lambda v: isinstance(v, str)),
    (serializers.CharField, lambda v: isinstance(v, str)),  # also Email, Regex, Slug, URL fields
]


def type_errors(field, value):
    """The errors for `value` sent to `field` (DRF's error shape), or None when every JSON type is right."""
    if value is None:
        return None  # whether null is allowed is the field's own rule
    if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
        return [ErrorDetail(NO_CONTROL_CHARACTERS, code="control_character")]
    if isinstance(field, serializers.ListSerializer):
        return _items(field.child, value) if isinstance(value, list) else None
    if isinstance(field, serializers.Serializer):
        return object_errors(field, value) if isinstance(value, Mapping) else None
    if isinstance(field, serializers.ListField):
        return _items(field.child, value) if isinstance(value, list) else None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, Mapping):
            return None
        if isinstance(field.child, _UnvalidatedField):  # free-form values (homework answers): their text only
            return control_character_errors(value)
        errors = {key: error for key, item in value.items() if (error := type_errors(field.child, item))}
        return errors or None
    if isinstance(field, serializers.DateTimeField):
        return _instant_errors(value)
    if isinstance(field, serializers.DateField):
        return _date_errors(value)
    for kind, accepts in EXPECTED:
        if isinstance(field, kind):
            # The field's own message for a value it cannot read ("A valid integer is required.").
            return None if accepts(value) else [field.error_messages["invalid"]]
    return None


def _instant_errors(value):
    if not isinstance(value, str) or instant(value) is None:
        return [ErrorDetail(INSTANT, code="invalid")]
    return None


def _date_errors(value):
    if not isinstance(value, str) or not ISO_DATE.match(value):
        return None  # DRF's own message: the format to use
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return [ErrorDetail(f"{value} is not a date on the calendar.", code="impossible_date")]
    latest = timezone.localdate()
    latest = latest.replace(year=latest.year + HORIZON_YEARS, day=min(latest.day, 28))
    if not EARLIEST_DATE <= day <= latest:
        return [ErrorDetail(DATE_RANGE, code="date_out_of_range")]
    return None


def control_character_errors(value):
    """Every string in a free-form value (at any depth) that holds a control character, by where it is."""
    if isinstance(value, str):
        return (
            [ErrorDetail(NO_CONTROL_CHARACTERS, code="control_character")] if CONTROL_CHARACTERS.search(value) else None
        )
    if isinstance(value, Mapping):
        errors = {key: error for key, item in value.items() if (error := control_character_errors(item))}
        return errors or None
    if isinstance(value, list):
        errors = {index: error for index, item in enumerate(value) if (error := control_character_errors(item))}
        return errors or None
    return None


def _items(child, values: list):
    errors = {index: error for index, item in enumerate(values) if (error := type_errors(child, item))}
    return errors or None


def object_errors(serializer, data: Mapping):
    errors = {}
    for field in serializer.fields.values():
        if not field.read_only and field.field_name in data:
            error = type_errors(field, data[field.field_name])
            if error:
                errors[field.field_name] = error
    return errors or None


# Mixed into a request serializer, before the DRF base. (A comment, not a docstring: drf-spectacular would show
# an inherited docstring as the description of every request body.)
class JSONTypes:
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            errors = object_errors(self, data)
            if errors:
                # Every problem at once: the fields' own checks still speak for the other fields.
                try:
                    super().to_internal_value({k: v for k, v in data.items() if k not in errors})
                except serializers.ValidationError as exc:
                    for name, detail in exc.detail.items():
                        errors.setdefault(name, detail)
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
