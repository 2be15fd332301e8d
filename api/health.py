"""Liveness and readiness for load balancers and orchestrators. No authentication."""

from django.db import connection, transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .errors import DATABASE_RETRY_AFTER_SECONDS, ProblemResponse
from .viewsets import KnownQueryParameters

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok"]),
        "database": serializers.ChoiceField(choices=["ok"], required=False),
    },
)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ReadinessView(KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer}, tags=["health"])
    def get(self, request):
        """Readiness: the API and its database answer.

        503 problem+json while the database cannot be reached (within about two seconds); 200 again as
        soon as it is back, without a restart.
        """
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:  # any failure to reach the database means "not ready"
            return ProblemResponse(
                503,
                detail="The database cannot be reached.",
                instance=request.path,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
                database="unavailable",
            )
        return Response({"status": "ok", "database": "ok"})


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class LivenessView(KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer}, tags=["health"])
    def get(self, request):
        """Liveness: the process serves requests (does not touch the database)."""
        return Response({"status": "ok"})
