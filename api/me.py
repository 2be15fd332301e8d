from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical.models import Role, User


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
