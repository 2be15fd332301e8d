"""Representations that more than one resource family shows: a resource module imports these, never another
resource module."""

from rest_framework import serializers

from exercises.models import ExerciseVersion
from exercises.services import CONTENT_FIELDS


class ExerciseVersionSerializer(serializers.ModelSerializer):
    """One version's full text: what a client sees when this version is assigned."""

    class Meta:
        model = ExerciseVersion
        fields = ["id", "number", *CONTENT_FIELDS, "created_at"]
        read_only_fields = fields
