"""Accepting an invitation: how a client creates their app login. No token needed; throttled per address."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical.services.invitations import invitation_accept

from .json_types import JSONTypes
from .me import MeSerializer
from .throttling import CountsSurviveFailureMixin, ScopedRate


class InvitationAcceptSerializer(JSONTypes, serializers.Serializer):
    token = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, help_text="The e-mail address to sign in with.")
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class InvitationAcceptThrottle(ScopedRate):
    scope = "invitation_accept"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class InvitationAcceptView(CountsSurviveFailureMixin, APIView):
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
