from django.urls import path

from . import (
    alerts,
    audit_events,
    cases,
    clients,
    consents,
    events,
    exercises,
    health,
    homework,
    me,
    measures,
    notes,
    practice,
    privacy,
    problems,
    reminders,
    reports,
    safety,
    sessions,
    webhooks,
)
from .routers import Router

router = Router()
router.register("staff", practice.StaffViewSet, basename="staff")
router.register("supervisions", practice.SupervisionViewSet, basename="supervision")
router.register("audit-events", audit_events.AuditEventViewSet, basename="audit-event")
router.register("erasure-requests", privacy.ErasureRequestViewSet, basename="erasure-request")
router.register("releases", privacy.RecordReleaseViewSet, basename="record-release")
router.register("clients", clients.ClientViewSet, basename="client")
router.register("couples", clients.CoupleViewSet, basename="couple")
router.register("cases", cases.CaseViewSet, basename="case")
router.register("goals", cases.GoalViewSet, basename="goal")
router.register("notes", notes.NoteViewSet, basename="note")
router.register("sessions", sessions.SessionViewSet, basename="session")
router.register("session-ratings", sessions.SessionRatingViewSet, basename="session-rating")
router.register("me/goals", me.MyGoalsViewSet, basename="my-goal")
router.register("me/assignments", homework.MyAssignmentsViewSet, basename="my-assignment")
router.register("me/assessments-due", measures.MyAssessmentsDueViewSet, basename="my-assessments-due")
router.register("me/devices", reminders.MyDevicesViewSet, basename="my-device")
router.register("me/consents", consents.MyConsentsViewSet, basename="my-consent")
router.register("consents", consents.ConsentViewSet, basename="consent")
router.register("consent-documents", consents.ConsentDocumentViewSet, basename="consent-document")
router.register("safety-screens", safety.SafetyScreenViewSet, basename="safety-screen")
router.register("conjoint-holds", safety.ConjointHoldViewSet, basename="conjoint-hold")
router.register("me/sessions", sessions.MySessionsViewSet, basename="my-session")
router.register("me/session-ratings", sessions.MySessionRatingsViewSet, basename="my-session-rating")
router.register("exercises", exercises.ExerciseViewSet, basename="exercise")
router.register("assignments", homework.AssignmentViewSet, basename="assignment")
router.register("submissions", homework.SubmissionViewSet, basename="submission")
router.register("instruments", measures.InstrumentViewSet, basename="instrument")
router.register("assessments", measures.AssessmentViewSet, basename="assessment")
router.register("assessment-schedules", measures.ScheduleViewSet, basename="assessment-schedule")
router.register("alerts", alerts.AlertViewSet, basename="alert")
router.register("reports", reports.ReportViewSet, basename="report")
router.register("event-types", events.EventTypeViewSet, basename="event-type")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")

# Resources are registered above; these few endpoints are not resources (who am I, my whole record, is the service
# up, accepting an invitation without a token, the caller's second factor, the caller's calendar feed and the feed
# itself).
v1 = [
    path("me/", me.MeView.as_view(), name="me"),
    path(
        "me/notification-preferences/",
        reminders.MyNotificationPreferencesViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="my-notification-preferences",
    ),
    # The caller's second factor for signing in (staff).
    path("me/mfa/", me.MyMfaViewSet.as_view({"get": "retrieve", "post": "create"}), name="my-mfa"),
    path("me/mfa/confirm/", me.MyMfaViewSet.as_view({"post": "confirm"}), name="my-mfa-confirm"),
    path("me/mfa/recovery-codes/", me.MyMfaViewSet.as_view({"post": "recovery_codes"}), name="my-mfa-recovery-codes"),
    path("me/mfa/remove/", me.MyMfaViewSet.as_view({"post": "remove"}), name="my-mfa-remove"),
    path("me/export/", privacy.MyRecordViewSet.as_view({"get": "retrieve"}), name="my-record"),
    path("health/", health.ReadinessView.as_view(), name="health"),
    path("health/live/", health.LivenessView.as_view(), name="health-live"),
    path("invitations/accept/", me.InvitationAcceptView.as_view(), name="invitation-accept"),
    path(
        "me/calendar-feed/",
        sessions.MyCalendarFeedViewSet.as_view({"get": "retrieve", "post": "create", "delete": "destroy"}),
        name="my-calendar-feed",
    ),
    # A calendar app's subscription: the secret in the path stands for the clinician (no OAuth token).
    path("calendar/<str:token>.ics", sessions.CalendarFeedView.as_view(), name="calendar-feed"),
    *router.urls,
]

problem_urls = [
    path("", problems.problem_types, name="problem-types"),
    path("<slug:slug>", problems.problem_type, name="problem-type"),
]
