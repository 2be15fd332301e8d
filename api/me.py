"""The caller's own account: who the token belongs to, the goals of a client's own therapy, and how a client
creates their app login from an invitation."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical import selectors
from clinical.models import Role, TreatmentGoal, User
from clinical.services.invitations import invitation_accept

from .json_types import JSONTypes
from .throttling import CountsSurviveFailureMixin, ScopedRate
from .viewsets import KnownQueryParameters, ListMixin, ResourceViewSet


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "role", "display_name"]
        read_only_fields = fields


class MeView(KnownQueryParameters, APIView):
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
class MyGoalsViewSet(ListMixin, ResourceViewSet):
    """A client sees the titles, domains and statuses of the goals on their own cases, nothing else."""

    resource = "goal"
    selector = selectors.goals_visible_to
    serializer_class = MyGoalSerializer
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    etag = False


# ---------------------------------------------------------------- accepting an invitation


class InvitationAcceptSerializer(JSONTypes, serializers.Serializer):
    token = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, help_text="The e-mail address to sign in with.")
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class InvitationAcceptThrottle(ScopedRate):
    scope = "invitation_accept"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class InvitationAcceptView(CountsSurviveFailureMixin, KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [InvitationAcceptThrottle]

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MeSerializer}, tags=["me"])
    def post(self, request):
        """Accept an invitation: create your app login with the token your therapist gave you.

        Then sign in through OAuth (authorization code + PKCE) with this e-mail and password.
        """
        data = InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = invitation_accept(**data.validated_data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)
