"""The events the API emits, for integrators: the catalog (GET event-types/)."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers

from clinical.models import Role
from events.catalog import CATALOG, EVENT_TYPES

from .pagination import SinglePage
from .viewsets import CLINICIANS, ResourceViewSet


class EventTypeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The event's `type`, e.g. `submission.created`.")
    version = serializers.IntegerField(help_text="Raised when what the event carries changes.")
    category = serializers.CharField(help_text="What kind of record it is about: the part before the dot.")
    description = serializers.CharField()
    about = serializers.ListField(
        child=serializers.CharField(), help_text="The ids the event carries, by name (never names or content)."
    )
    scope = serializers.CharField(help_text="The id in `about` that decides who may receive the event.")


@extend_schema_serializer(many=False)  # already the page: the list action's answer is one of these, not an array
class EventTypeListSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EventTypeSerializer(many=True)


@extend_schema_view(
    list=extend_schema(
        summary="List the event types the API emits", tags=["events"], responses=EventTypeListSerializer
    ),
    retrieve=extend_schema(summary="Get an event type", tags=["events"], responses=EventTypeSerializer),
)
class EventTypeViewSet(ResourceViewSet):
    """The catalog is data shipped with the API, the same for every practice (not records: no audit, no ETag)."""

    resource = "event_type"
    audited = False
    etag = False
    serializer_class = EventTypeSerializer
    pagination_class = SinglePage
    filter_backends = []  # sixteen types: nothing to filter
    read_scopes = [["clinical:read"], ["admin"]]
    allowed_roles = [*CLINICIANS, Role.ADMIN]
    http_method_names = ["get", "head", "options"]
    lookup_field = "name"
    lookup_value_regex = r"[a-z_]+\.[a-z_]+"

    def list(self, request):
        return self.page(CATALOG)

    def retrieve(self, request, name=None):
        if name not in EVENT_TYPES:
            raise Http404
        return self.respond(EVENT_TYPES[name], fetched=True)
