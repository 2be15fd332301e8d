"""The exercise library: the curated catalog and clinicians' own exercises, versioned."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical.models import Role
from exercises.models import Audience, Exercise, Frequency
from exercises.selectors import exercises_visible_to
from exercises.services import exercise_create, exercise_revise
from kernel.models import GoalDomain

from .filters import NameSearchFilter
from .json_types import JSONTypes
from .serializers import ExerciseVersionSerializer, ResponseFieldsField
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin


class ExerciseContentSerializer(JSONTypes, serializers.Serializer):
    title = serializers.CharField(max_length=200)
    summary = serializers.CharField(max_length=2000)
    steps = serializers.ListField(child=serializers.CharField(max_length=2000), min_length=1, max_length=30)
    domains = serializers.ListField(child=serializers.ChoiceField(choices=GoalDomain.choices), min_length=1)
    audience = serializers.ChoiceField(choices=Audience.choices)
    suggested_frequency = serializers.ChoiceField(choices=Frequency.choices)
    estimated_minutes = serializers.IntegerField(min_value=1, max_value=600)
    response_fields = ResponseFieldsField()


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
    domain = filters.ChoiceFilter(choices=GoalDomain.choices, method="filter_domain")
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
    create=extend_schema(summary="Write your own exercise", tags=["exercises"]),
    partial_update=extend_schema(summary="Revise your own exercise (a new version)", tags=["exercises"]),
    versions=extend_schema(
        summary="List an exercise's versions", tags=["exercises"], responses=ExerciseVersionSerializer(many=True)
    ),
)
class ExerciseViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "exercise"
    audited = False  # the library holds no personal data; publishing is audited by the services
    selector = exercises_visible_to
    serializer_class = ExerciseSerializer
    filterset_class = ExerciseFilter
    request_serializers = {"create": ExerciseContentSerializer, "partial_update": ExerciseContentSerializer}
    create_service = exercise_create
    update_service = exercise_revise
    read_scopes = [["clinical:read"], ["homework"]]
    write_scopes = ["clinical:write"]
    allowed_roles = [Role.CLINICIAN, Role.SUPERVISOR, Role.CLIENT]
    action_roles = {"create": [Role.CLINICIAN, Role.SUPERVISOR], "partial_update": [Role.CLINICIAN, Role.SUPERVISOR]}
    problems = {"partial_update": ["not_exercise_author"]}
    page_actions = ("list", "versions")

    @action(detail=True, methods=["get"], filterset_class=None, serializer_class=ExerciseVersionSerializer)
    def versions(self, request, pk=None):
        return self.page(self.get_object().versions.all())
