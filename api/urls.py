from django.urls import path
from rest_framework.routers import DefaultRouter

from . import (
    audit_events,
    cases,
    clients,
    exercises,
    health,
    homework,
    invitations,
    me,
    notes,
    outcomes,
    practice,
    problems,
    renderers,
)

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
# No `staff.json`-style aliases: every route is one the contract documents (tests/api/test_access_matrix.py).
router.include_format_suffixes = False
router.register("staff", practice.StaffViewSet, basename="staff")
router.register("supervisions", practice.SupervisionViewSet, basename="supervision")
router.register("audit-events", audit_events.AuditEventViewSet, basename="audit-event")
router.register("clients", clients.ClientViewSet, basename="client")
router.register("couples", clients.CoupleViewSet, basename="couple")
router.register("cases", cases.CaseViewSet, basename="case")
router.register("goals", cases.GoalViewSet, basename="goal")
router.register("notes", notes.NoteViewSet, basename="note")
router.register("me/goals", me.MyGoalsViewSet, basename="my-goal")
router.register("me/assignments", homework.MyAssignmentsViewSet, basename="my-assignment")
router.register("exercises", exercises.ExerciseViewSet, basename="exercise")
router.register("assignments", homework.AssignmentViewSet, basename="assignment")
router.register("submissions", homework.SubmissionViewSet, basename="submission")
router.register("instruments", outcomes.InstrumentViewSet, basename="instrument")
router.register("assessments", outcomes.AssessmentViewSet, basename="assessment")
router.register("assessment-schedules", outcomes.ScheduleViewSet, basename="assessment-schedule")
router.register("alerts", outcomes.AlertViewSet, basename="alert")

v1 = [
    path("me/", me.MeView.as_view(), name="me"),
    path("health/", health.ReadinessView.as_view(), name="health"),
    path("health/live/", health.LivenessView.as_view(), name="health-live"),
    path("invitations/accept/", invitations.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("me/assessments-due/", outcomes.MyAssessmentsDueView.as_view(), name="my-assessments-due"),
    path("reports/caseload/", outcomes.CaseloadReportView.as_view(), name="report-caseload"),
    path("reports/outcomes/", outcomes.OutcomesReportView.as_view(), name="report-outcomes"),
    path(
        "cases/<uuid:pk>/outcomes/chart.png",
        cases.CaseViewSet.as_view({"get": "outcomes_chart"}, renderer_classes=[renderers.PNGRenderer]),
        name="case-outcomes-chart",
    ),
    *router.urls,
]

problem_urls = [
    path("", problems.problem_types, name="problem-types"),
    path("<slug:slug>", problems.problem_type, name="problem-type"),
]
