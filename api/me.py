from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical import selectors
from clinical.models import Role, TreatmentGoal, User

from .records import ClinicalViewSet


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "role", "display_name"]
        read_only_fields = fields


class MeView(APIView):
    read_scopes = []  # any valid token may ask who it belongs to
    allowed_roles = Role.values

    @extend_schema(responses=MeSerializer, tags=["me"])
    def get(self, request):
        """The caller: who the access token belongs to and their role."""
        return Response(MeSerializer(request.user).data)


class MyGoalSerializer(serializers.ModelSerializer):
    class Meta:
        model = TreatmentGoal
        fields = ["id", "title", "domain", "lifecycle_status", "achievement_status", "updated_at"]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(summary="The goals of your own therapy (client app)", tags=["me"]))
class MyGoalsViewSet(ClinicalViewSet):
    """A client sees the titles, domains and statuses of the goals on their own cases, nothing else."""

    selector = selectors.goals_of_client
    serializer_class = MyGoalSerializer
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    record_name = "goal"
    etag = False

    def list(self, request):
        return self.list_response(self.get_queryset())
