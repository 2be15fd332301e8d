"""Liveness and readiness for load balancers and orchestrators. No authentication."""

from django.db import connection, transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from events.selectors import worker_state

from .errors import DATABASE_RETRY_AFTER_SECONDS, ProblemResponse
from .viewsets import KnownQueryParameters

LivenessSerializer = inline_serializer("Liveness", {"status": serializers.ChoiceField(choices=["ok"])})

HealthSerializer = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(
            choices=["ok", "degraded"],
            help_text="`degraded`: no live worker, or the oldest due job has waited longer than 60 s.",
        ),
        "database": serializers.ChoiceField(choices=["ok"]),
        "worker": inline_serializer(
            "WorkerHealth",
            {
                "live_workers": serializers.IntegerField(
                    min_value=0, help_text="Workers whose heartbeat is at most 30 s old."
                ),
                "heartbeat_age_seconds": serializers.FloatField(
                    allow_null=True,
                    help_text="Seconds since the most recent heartbeat of any worker; null when none is on record.",
                ),
                "queue_lag_seconds": serializers.FloatField(
                    min_value=0, help_text="How long the oldest job that is due has waited to start; 0 when none."
                ),
            },
        ),
    },
)


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ReadinessView(KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer}, tags=["health"])
    def get(self, request):
        """Readiness: the API and its database answer; how the worker is doing.

        503 problem+json while the database cannot be reached (within about two seconds); 200 again as
        soon as it is back, without a restart. The worker does not decide readiness: with no live worker
        (no heartbeat within 30 s) or a queue whose oldest due job has waited over 60 s, the answer is still
        200, with `status: degraded` — the API serves, and events wait in the queue until a worker takes them.
        """
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            worker = worker_state()
        except Exception:  # any failure to reach the database means "not ready"
            return ProblemResponse(
                503,
                detail="The database cannot be reached.",
                instance=request.path,
                headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
                database="unavailable",
            )
        return Response(
            {
                "status": "degraded" if worker.degraded else "ok",
                "database": "ok",
                "worker": {
                    "live_workers": worker.live_workers,
                    "heartbeat_age_seconds": worker.heartbeat_age_seconds,
                    "queue_lag_seconds": worker.queue_lag_seconds,
                },
            }
        )


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class LivenessView(KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: LivenessSerializer}, tags=["health"])
    def get(self, request):
        """Liveness: the process serves requests (does not touch the database)."""
        return Response({"status": "ok"})
