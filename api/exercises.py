"""The exercise library: the curated catalog and clinicians' own exercises, versioned."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from clinical.models import Role
from exercises.models import DOMAINS, Audience, Exercise, ExerciseVersion, Frequency
from exercises.responses import FIELD_TYPES
from exercises.selectors import exercises_visible_to
from exercises.services import exercise_create, exercise_revise

from .etags import expected_version, with_etag
from .filters import NameSearchFilter
from .idempotency import idempotent
from .json_types import JSONTypes
from .scoping import ScopedViewSet


class ResponseFieldSerializer(serializers.Serializer):
    """One question the client answers after doing the exercise."""

    key = serializers.RegexField(r"^[a-z][a-z0-9_]{0,39}$")
    label = serializers.CharField(max_length=300)
    type = serializers.ChoiceField(choices=FIELD_TYPES)
    required = serializers.BooleanField(default=True)
    min = serializers.IntegerField(required=False, help_text="scale: lowest value")
    max = serializers.IntegerField(required=False, help_text="scale: highest value")
    min_label = serializers.CharField(required=False, max_length=100, help_text="scale: what the lowest means")
    max_label = serializers.CharField(required=False, max_length=100, help_text="scale: what the highest means")
    options = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, help_text="single_choice, multi_choice"
    )


class ExerciseContentSerializer(JSONTypes, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(max_length=2000)
    steps = serializers.ListField(child=serializers.CharField(max_length=2000), min_length=1, max_length=30)
    domains = serializers.ListField(child=serializers.ChoiceField(choices=DOMAINS), min_length=1)
    audience = serializers.ChoiceField(choices=Audience.choices)
    suggested_frequency = serializers.ChoiceField(choices=Frequency.choices)
    estimated_minutes = serializers.IntegerField(min_value=1, max_value=600)
    response_fields = ResponseFieldSerializer(many=True)


class ExerciseVersionSerializer(serializers.ModelSerializer):
    """One version's full text: what a client sees when this version is assigned."""

    class Meta:
        model = ExerciseVersion
        fields = [
            "id",
            "number",
            "title",
            "summary",
            "steps",
            "domains",
            "audience",
            "suggested_frequency",
            "estimated_minutes",
            "response_fields",
            "created_at",
        ]
        read_only_fields = fields


class ExerciseSerializer(serializers.ModelSerializer):
    """An exercise with its current version's text."""

    current_version = ExerciseVersionSerializer(source="current", read_only=True)
    catalog = serializers.SerializerMethodField(help_text="True for the practice's curated exercises.")

    class Meta:
        model = Exercise
        fields = ["id", "slug", "catalog", "author", "current_version", "created_at", "updated_at", "version"]
        read_only_fields = fields

    def get_catalog(self, exercise) -> bool:
        return exercise.author_id is None


class ExerciseFilter(filters.FilterSet):
    domain = filters.ChoiceFilter(choices=[(d, d) for d in DOMAINS], method="filter_domain")
    audience = filters.ChoiceFilter(choices=Audience.choices, field_name="current__audience")
    search = NameSearchFilter(fields=["current__title", "current__summary"], label="Title or summary contains")
    catalog = filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_catalog",
        label="true: only the curated catalog; false: only clinicians' own",
    )

    class Meta:
        model = Exercise
        fields = ["domain", "audience", "search", "catalog"]

    def filter_catalog(self, queryset, name, value):
        return queryset.filter(author__isnull=value == "true")

    def filter_domain(self, queryset, name, value):
        return queryset.filter(current__domains__contains=[value])


@extend_schema_view(
    list=extend_schema(summary="List the exercise library", tags=["exercises"]),
    retrieve=extend_schema(summary="Get an exercise and its current text", tags=["exercises"]),
    create=extend_schema(
        summary="Write your own exercise",
        tags=["exercises"],
        request=ExerciseContentSerializer,
        responses={201: ExerciseSerializer},
    ),
    partial_update=extend_schema(
        summary="Revise your own exercise (a new version)",
        tags=["exercises"],
        request=ExerciseContentSerializer,
        responses=ExerciseSerializer,
    ),
    versions=extend_schema(
        summary="List an exercise's versions", tags=["exercises"], responses=ExerciseVersionSerializer(many=True)
    ),
)
class ExerciseViewSet(ScopedViewSet):
    selector = exercises_visible_to
    serializer_class = ExerciseSerializer
    filterset_class = ExerciseFilter
    read_scopes = [["clinical:read"], ["homework"]]
    write_scopes = ["clinical:write"]
    allowed_roles = [Role.CLINICIAN, Role.SUPERVISOR, Role.CLIENT]
    action_roles = {"create": [Role.CLINICIAN, Role.SUPERVISOR], "partial_update": [Role.CLINICIAN, Role.SUPERVISOR]}
    http_method_names = ["get", "post", "patch", "head", "options"]
    extra_problems = {"partial_update": [403]}
    etag = True

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        exercise = self.get_object()
        return with_etag(Response(self.get_serializer(exercise).data), exercise)

    @idempotent
    def create(self, request):
        content = ExerciseContentSerializer(data=request.data)
        content.is_valid(raise_exception=True)
        exercise = exercise_create(author=request.user, content=dict(content.validated_data))
        exercise = self.get_queryset().get(pk=exercise.pk)
        return with_etag(Response(self.get_serializer(exercise).data, status=status.HTTP_201_CREATED), exercise)

    def partial_update(self, request, pk=None):
        exercise = self.get_object()
        version = expected_version(request)
        content = ExerciseContentSerializer(data=request.data, partial=True)
        content.is_valid(raise_exception=True)
        exercise = exercise_revise(
            actor=request.user, exercise=exercise, expected_version=version, changes=dict(content.validated_data)
        )
        exercise = self.get_queryset().get(pk=exercise.pk)
        return with_etag(Response(self.get_serializer(exercise).data), exercise)

    @action(detail=True, methods=["get"], filterset_class=None, serializer_class=ExerciseVersionSerializer)
    def versions(self, request, pk=None):
        exercise = self.get_object()
        rows = self.paginate_queryset(exercise.versions.all())
        return self.get_paginated_response(ExerciseVersionSerializer(rows, many=True).data)
