"""Request bodies take JSON's own types.

DRF converts what it can: a number sent for a text field is kept as its digits, "5" passes for an integer, 1 and
"yes" for true, an integer for a UUID. The schema promises string, integer, boolean, so a value of another JSON
type answers 400 naming the field, instead of being stored converted. Request serializers mix in `JSONTypes`;
it checks nested serializers, lists and dicts of the body too.
"""

from collections.abc import Mapping

from rest_framework import serializers


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
    if isinstance(field, serializers.ListSerializer):
        return _items(field.child, value) if isinstance(value, list) else None
    if isinstance(field, serializers.Serializer):
        return object_errors(field, value) if isinstance(value, Mapping) else None
    if isinstance(field, serializers.ListField):
        return _items(field.child, value) if isinstance(value, list) else None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, Mapping):
            return None
        errors = {key: error for key, item in value.items() if (error := type_errors(field.child, item))}
        return errors or None
    for kind, accepts in EXPECTED:
        if isinstance(field, kind):
            # The field's own message for a value it cannot read ("A valid integer is required.").
            return None if accepts(value) else [field.error_messages["invalid"]]
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
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
