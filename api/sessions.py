"""Sessions: a case's appointments for staff (`sessions/`), a client's upcoming ones in the app (`me/sessions/`), and
a clinician's private calendar feed of theirs (`me/calendar-feed/`, read at `calendar/{token}.ics`)."""

from collections import defaultdict

from django.http import HttpResponse
from django.urls import reverse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical import selectors
from clinical.models import (
    RATING_ITEMS,
    RATING_MAX,
    Role,
    Session,
    SessionKind,
    SessionModality,
    SessionRating,
    SessionStatus,
)
from clinical.services import alliance as alliance_services
from clinical.services import calendar as calendar_services
from clinical.services import sessions as session_services

from .filters import InstantFilter, ScopedIdFilter
from .json_types import JSONTypes
from .renderers import ICalendarRenderer
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import SessionSerializer, with_attendees
from .viewsets import (
    CreateMixin,
    KnownQueryParameters,
    ListMixin,
    ResourceViewSet,
    RetrieveMixin,
    UpdateMixin,
    rows_of,
)

ATTENDANCE = Session.attendees.through
ATTENDEE_ORDER = ("session", "client")  # each session's attendees by id, as `with_attendees` orders them
LOCATION_HELP = "A room, an address or a video link; the clients who attend see it in the app."


RATING_HELP = {
    "heard": "I felt heard, understood and respected (0 not at all … 10 completely).",
    "goals": "We worked on what I wanted to work on (0 … 10).",
    "approach": "The therapist's approach is a good fit for us (0 … 10).",
    "overall": "Overall, today's session was right for me (0 … 10).",
}


class SessionRatingSerializer(serializers.ModelSerializer):
    total = serializers.IntegerField(read_only=True, help_text="The four items added up, 0 to 40.")

    class Meta:
        model = SessionRating
        fields = ["id", "session", "client", *RATING_ITEMS, "total", "created_at", "updated_at", "version"]
        read_only_fields = fields


class SessionRatingCreateSerializer(JSONTypes, serializers.Serializer):
    session = ScopedPrimaryKeyRelatedField(
        selectors.sessions_visible_to, help_text="An attended session you were at (me/sessions/ lists yours)."
    )
    heard = serializers.IntegerField(min_value=0, max_value=RATING_MAX, help_text=RATING_HELP["heard"])
    goals = serializers.IntegerField(min_value=0, max_value=RATING_MAX, help_text=RATING_HELP["goals"])
    approach = serializers.IntegerField(min_value=0, max_value=RATING_MAX, help_text=RATING_HELP["approach"])
    overall = serializers.IntegerField(min_value=0, max_value=RATING_MAX, help_text=RATING_HELP["overall"])


class SessionRatingUpdateSerializer(SessionRatingCreateSerializer):
    session = None
    heard = serializers.IntegerField(min_value=0, max_value=RATING_MAX, required=False, help_text=RATING_HELP["heard"])
    goals = serializers.IntegerField(min_value=0, max_value=RATING_MAX, required=False, help_text=RATING_HELP["goals"])
    approach = serializers.IntegerField(
        min_value=0, max_value=RATING_MAX, required=False, help_text=RATING_HELP["approach"]
    )
    overall = serializers.IntegerField(
        min_value=0, max_value=RATING_MAX, required=False, help_text=RATING_HELP["overall"]
    )


class SessionCreateSerializer(JSONTypes, serializers.Serializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to)
    starts_at = serializers.DateTimeField(help_text="When it begins, with offset.")
    ends_at = serializers.DateTimeField(help_text="When it ends, with offset (after `starts_at`, 12 hours at most).")
    modality = serializers.ChoiceField(choices=SessionModality.choices)
    kind = serializers.ChoiceField(
        choices=SessionKind.choices,
        required=False,
        help_text="`joint` (the default): the case's clients together. `individual`: one partner of a couple alone.",
    )
    partner = ScopedPrimaryKeyRelatedField(
        selectors.clients_visible_to,
        required=False,
        allow_null=True,
        help_text="The partner an `individual` session is with.",
    )
    attendees = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.clients_visible_to),
        required=False,
        max_length=2,
        help_text="Who attends, among the case's clients; all of them when left out.",
    )
    location = serializers.CharField(required=False, allow_blank=True, max_length=300, help_text=LOCATION_HELP)


class SessionUpdateSerializer(JSONTypes, serializers.Serializer):
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    modality = serializers.ChoiceField(choices=SessionModality.choices, required=False)
    attendees = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.clients_visible_to), required=False, max_length=2, min_length=1
    )
    location = serializers.CharField(required=False, allow_blank=True, max_length=300, help_text=LOCATION_HELP)


class SessionTransitionSerializer(JSONTypes, serializers.Serializer):
    to = serializers.ChoiceField(choices=[c for c in SessionStatus.choices if c[0] != SessionStatus.SCHEDULED])
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Why: required for `cancelled`, `late_cancelled` and `no_show`.",
    )


class SessionFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    status = filters.ChoiceFilter(choices=SessionStatus.choices)
    starts_after = InstantFilter(field_name="starts_at", lookup_expr="gte", help_text="Sessions starting at or after.")
    starts_before = InstantFilter(field_name="starts_at", lookup_expr="lt", help_text="Sessions starting before.")

    class Meta:
        model = Session
        fields = ["case", "status", "starts_after", "starts_before"]


@extend_schema_view(
    list=extend_schema(summary="List sessions (by start time)", tags=["sessions"]),
    retrieve=extend_schema(summary="Get a session", tags=["sessions"]),
    create=extend_schema(summary="Book a session on a case", tags=["sessions"]),
    partial_update=extend_schema(
        summary="Reschedule a session (times, modality, place, attendees; scheduled sessions only)", tags=["sessions"]
    ),
)
class SessionViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    """A case's appointments. A clinician is never in two booked sessions at once: an overlap answers 409
    `session_overlap` with `conflicting_session`, also when two bookings race."""

    resource = "session"
    selector = selectors.sessions_visible_to
    serializer_class = SessionSerializer
    filterset_class = SessionFilter
    cursor_ordering = ("starts_at", "id")
    request_serializers = {
        "create": SessionCreateSerializer,
        "partial_update": SessionUpdateSerializer,
        "transition": SessionTransitionSerializer,
    }
    create_service = session_services.session_create
    update_service = session_services.session_update
    problems = {
        "create": ["not_case_clinician", "case_closed", "session_overlap", "conjoint_hold", "consent_missing"],
        "partial_update": [
            "not_case_clinician",
            "case_closed",
            "session_not_scheduled",
            "session_overlap",
            "conjoint_hold",
        ],
        "transition": ["not_case_clinician", "session_transition_not_allowed", "session_not_started"],
    }
    if_match_actions = ("transition",)

    # Hot reads (a clinician's week): plain rows, shaped as SessionSerializer; who attends is read for the whole
    # page in one statement (`fill_plain`).
    plain_actions = ("list", "retrieve")
    plain_computed = ("attendees",)

    def shape_queryset(self, queryset):
        return with_attendees(queryset)

    def fill_plain(self, rows):
        attendees = defaultdict(list)
        ids = [row["id"] for row in rows]
        for link in rows_of(ATTENDANCE, ("session", "client"), where="session", among=ids, order_by=ATTENDEE_ORDER):
            attendees[link["session"]].append(link["client"])
        for row in rows:
            row["attendees"] = attendees[row["id"]]

    @extend_schema(
        tags=["sessions"],
        description=(
            "scheduled → attended | cancelled | late_cancelled | no_show; the outcomes are final. `attended` and "
            "`no_show` only once the session has begun; a cancellation or no-show takes a `reason`."
        ),
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Record what became of a session."""
        return self.act(session_services.session_transition)


class MySessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = ["id", "starts_at", "ends_at", "modality", "kind", "location", "status", "updated_at"]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(summary="Your upcoming sessions (client app)", tags=["me"]))
class MySessionsViewSet(ListMixin, ResourceViewSet):
    """A client's own sessions that have not ended yet, soonest first: when, how and where; nothing clinical. A
    session cancelled since stays listed with its status, so the app can take it off the calendar."""

    resource = "session"
    selector = selectors.upcoming_sessions_visible_to
    serializer_class = MySessionSerializer
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    cursor_ordering = ("starts_at", "id")
    etag = False
    plain_actions = ("list",)  # on every launch of the app: plain rows, shaped as MySessionSerializer


@extend_schema_view(
    list=extend_schema(summary="Your own session ratings (client app)", tags=["me"]),
    retrieve=extend_schema(summary="One of your session ratings (client app)", tags=["me"]),
    create=extend_schema(summary="Rate a session you attended (client app)", tags=["me"]),
    partial_update=extend_schema(summary="Change your rating within 24 hours (client app)", tags=["me"]),
)
class MySessionRatingsViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    """A client's ratings of the sessions they attended: four items, 0 to 10, sent with an Idempotency-Key and
    changeable for 24 hours. Your therapist and their supervisor see them; your partner never does."""

    resource = "session_rating"
    object_keyword = "rating"
    selector = selectors.session_ratings_visible_to
    serializer_class = SessionRatingSerializer
    read_scopes = ["homework"]
    write_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    request_serializers = {"create": SessionRatingCreateSerializer, "partial_update": SessionRatingUpdateSerializer}
    create_service = alliance_services.rating_submit
    update_service = alliance_services.rating_update
    idempotency_required = True
    problems = {
        "create": ["not_an_attendee", "session_not_attended", "already_rated"],
        "partial_update": ["not_rater", "rating_locked"],
    }


class SessionRatingFilter(filters.FilterSet):
    session = ScopedIdFilter(selectors.sessions_visible_to, field_name="session")
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="session__case")
    client = ScopedIdFilter(selectors.clients_visible_to, field_name="client")

    class Meta:
        model = SessionRating
        fields = ["session", "case", "client"]


@extend_schema_view(
    list=extend_schema(summary="List the partners' session ratings", tags=["sessions"]),
    retrieve=extend_schema(summary="Get a session rating", tags=["sessions"]),
)
class SessionRatingViewSet(ListMixin, RetrieveMixin, ResourceViewSet):
    """Each attending client's rating of each attended session, for the clinician and supervisors (a partner
    never reads the other's: clients have their own at me/session-ratings/). `cases/{id}/alliance/` puts them
    side by side."""

    resource = "session_rating"
    selector = selectors.session_ratings_visible_to
    serializer_class = SessionRatingSerializer
    filterset_class = SessionRatingFilter
    http_method_names = ["get", "head", "options"]


# ---------------------------------------------------------------- the clinician's calendar feed


class CalendarFeedSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="Whether your calendar feed is on.")
    created_at = serializers.DateTimeField(
        allow_null=True, help_text="When the feed's current address was made; null while the feed is off."
    )


class CalendarFeedIssuedSerializer(CalendarFeedSerializer):
    url = serializers.URLField(
        help_text="The feed's address, with its secret: shown only in this answer. Subscribe to it in your calendar "
        'app ("add calendar from URL"); anyone who has it can read your schedule, so keep it to yourself, and '
        "make a new one (POST again) or turn the feed off (DELETE) if it got out."
    )


@extend_schema_view(
    retrieve=extend_schema(summary="Whether your calendar feed is on (staff)", tags=["sessions"]),
    create=extend_schema(
        summary="Turn your calendar feed on, or give it a new address (staff)",
        description="A private iCalendar feed of the sessions you hold, from 30 days ago to 180 days ahead, for a "
        "calendar app to subscribe to: each event has its times (UTC), the modality and the attending clients' "
        "initials, nothing else (no names, no place or video link, no notes). A cancelled session stays in the "
        "feed marked cancelled, so the app takes it off your day. The address carries a secret and is shown only "
        "in this answer; asking again makes a new one and the old address stops answering at once.",
        responses={201: CalendarFeedIssuedSerializer},
        tags=["sessions"],
    ),
    destroy=extend_schema(
        summary="Turn your calendar feed off (staff)",
        description="Its address answers 404 from now on. Nothing to turn off is fine too (204).",
        responses={204: None},
        tags=["sessions"],
    ),
)
class MyCalendarFeedViewSet(ResourceViewSet):
    """The caller's own calendar feed: one per clinician or supervisor, nobody else's. Each change is audited."""

    resource = "calendar_feed"
    selector = selectors.calendar_feeds_visible_to
    serializer_class = CalendarFeedSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]
    audited = False  # no clinical content: whether a feed is on; its changes are audited by the services
    etag = False

    def retrieve(self, request):
        feed = self.get_queryset().first()
        data = {"enabled": feed is not None, "created_at": feed.created_at if feed else None}
        return self.present(data, CalendarFeedSerializer)

    # Not idempotent on purpose: a stored answer would keep the secret, which is kept nowhere but in this answer.
    def create(self, request):
        issued = calendar_services.calendar_feed_enable(actor=request.user)
        url = request.build_absolute_uri(reverse("calendar-feed", kwargs={"token": issued.token}))
        data = {"enabled": True, "created_at": issued.feed.created_at, "url": url}
        return Response(CalendarFeedIssuedSerializer(data).data, status=status.HTTP_201_CREATED)

    def destroy(self, request):
        calendar_services.calendar_feed_revoke(actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalendarFeedView(KnownQueryParameters, APIView):
    """The calendar feed itself, for calendar apps: no OAuth token, the secret in the address is the key."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [ICalendarRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "token",
                str,
                OpenApiParameter.PATH,
                description="The feed's secret, from the address `POST me/calendar-feed/` answered.",
            )
        ],
        responses={
            (200, "text/calendar"): OpenApiResponse(
                OpenApiTypes.STR,
                description="An iCalendar (RFC 5545) file: one VEVENT per session, UID stable per session, "
                "DTSTART/DTEND in UTC, SUMMARY with the clients' initials and the modality (also in CATEGORIES), "
                "STATUS:CANCELLED for a cancelled session.",
            )
        },
        tags=["sessions"],
        operation_id="calendar_feed_ics_retrieve",
    )
    def get(self, request, token):
        """Your calendar feed (iCalendar), for a calendar app: the secret in the address is the key

        No OAuth token: a calendar app cannot get one. An address that was never issued, was replaced or was
        turned off answers 404. Each read is recorded in the audit trail as a read of your sessions.
        """
        read = calendar_services.calendar_feed_read(token=token)
        response = Response({"name": f"Sessions · {read.clinician.display_name}", "events": read.events})
        response["Cache-Control"] = "private, no-store"
        return response

    def options(self, request, *args, **kwargs):
        """The methods it takes, in `Allow`, and no body (DRF's metadata would go to the iCalendar renderer)."""
        return HttpResponse(status=status.HTTP_204_NO_CONTENT)
