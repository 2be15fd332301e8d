from django.urls import path
from rest_framework.routers import DefaultRouter

from . import health, me, practice, problems

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("clinicians", practice.ClinicianViewSet, basename="clinician")
router.register("supervisions", practice.SupervisionViewSet, basename="supervision")

v1 = [
    path("me/", me.MeView.as_view(), name="me"),
    path("health/", health.ReadinessView.as_view(), name="health"),
    path("health/live/", health.LivenessView.as_view(), name="health-live"),
    *router.urls,
]

problem_urls = [
    path("", problems.problem_types, name="problem-types"),
    path("<slug:slug>", problems.problem_type, name="problem-type"),
]
