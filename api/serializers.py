"""Representations that more than one resource family shows: a resource module imports these, never another
resource module."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from jsonschema import Draft4Validator
from rest_framework import serializers

from clinical.models import Client, Consent, ConsentDocument, Session
from exercises.models import ExerciseVersion
from exercises.responses import ANY_ANSWER, FIELD_TYPES, definition_schema
from exercises.services import CONTENT_FIELDS


class ResponseFieldsField(serializers.ListField):
    """The questions a client answers after doing an exercise: each field one of the types exercises/responses.py
    declares, checked against that type's schema (the one the contract publishes, api/schema.py). Rules across
    attributes or fields (`min` below `max`, keys used once) are the domain's to check."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_length", 1)
        super().__init__(child=serializers.DictField(), **kwargs)

    def to_internal_value(self, data):
        fields = super().to_internal_value(data)
        errors = {index: problems for index, field in enumerate(fields) if (problems := _field_problems(field))}
        if errors:
            raise serializers.ValidationError(errors)
        return fields

    def to_representation(self, value):
        return value


# What the domain reports for the field as a whole ("`min` must be below `max`", "an unknown attribute"): left to
# it, so that each problem is named once.
WHOLE_FIELD_RULES = {"required", "minItems", "uniqueItems", "additionalProperties"}


def _field_problems(field: dict) -> dict | None:
    """Attributes of the wrong kind, by attribute (`response_fields.0.key`)."""
    kind = field.get("type")
    if kind is None:
        return None
    if kind not in FIELD_TYPES:
        return {"type": [f"One of: {', '.join(FIELD_TYPES)}."]}
    problems: dict[str, list[str]] = {}
    for error in Draft4Validator(definition_schema(kind)).iter_errors(field):
        if error.validator not in WHOLE_FIELD_RULES and error.path:
            problems.setdefault(str(error.path[0]), []).append(error.message)
    return problems or None


@extend_schema_field({"type": "object", "additionalProperties": ANY_ANSWER})
class ResponsesField(serializers.DictField):
    """A client's answers, by response-field key (checked against the exercise version's fields by the domain)."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "oneOf": [
                {"type": "string"},
                {"type": "integer"},
                {"type": "boolean"},
                {"type": "array", "items": {"type": "string"}},
                {"type": "object", "additionalProperties": True},
            ]
        },
    }
)
class AuditDetailField(serializers.DictField):
    """What an audit event adds about the change: which fields, from which state to which, how many. Ids and
    names of states only, never clinical text."""


class ExerciseVersionSerializer(serializers.ModelSerializer):
    """One version's full text: what a client sees when this version is assigned."""

    steps = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="In order.")
    response_fields = ResponseFieldsField(read_only=True)

    class Meta:
        model = ExerciseVersion
        fields = ["id", "number", *CONTENT_FIELDS, "created_at"]
        read_only_fields = fields


LOCAL_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$"


@extend_schema_field({"type": "string", "pattern": LOCAL_TIME_PATTERN, "example": "18:00"})
class LocalTimeField(serializers.TimeField):
    """A time of day on a person's own clock: HH:MM or HH:MM:SS, never an offset (the zone is theirs). OpenAPI's
    `format: time` means RFC 3339's full-time, which requires one, so the contract states the pattern instead."""

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["%H:%M", "%H:%M:%S"])
        super().__init__(**kwargs)


class SessionSerializer(serializers.ModelSerializer):
    attendees = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Session
        fields = [
            "id",
            "case",
            "clinician",
            "starts_at",
            "ends_at",
            "modality",
            "kind",
            "partner",
            "attendees",
            "location",
            "status",
            "status_reason",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


def with_attendees(sessions):
    """Sessions with who attends each, read for the whole page in one query, in one order on every path."""
    return sessions.prefetch_related(Prefetch("attendees", queryset=Client.objects.order_by("pk")))


# ---------------------------------------------------------------- consents (consents/, me/consents/, me/export/)


class ConsentDocumentBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentDocument
        fields = ["id", "title", "version", "digest"]
        read_only_fields = fields


class ConsentSerializer(serializers.ModelSerializer):
    document = ConsentDocumentBriefSerializer(help_text="The version of the document consented to.")

    class Meta:
        model = Consent
        fields = [
            "id",
            "client",
            "kind",
            "document",
            "method",
            "witness",
            "released_to",
            "release_purpose",
            "given_at",
            "revoked_at",
        ]
        read_only_fields = fields
