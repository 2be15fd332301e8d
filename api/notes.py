"""Progress notes: drafts, signing, co-signature, addenda, retirement."""

import functools
from collections import defaultdict

from django.db import connection
from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import NOTE_SECTIONS, NoteAddendum, NoteFormat, NoteStatus, ProgressNote, Role, TreatmentGoal
from clinical.services import notes as services

from .filters import ScopedIdFilter
from .idempotency import idempotent
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import SessionSerializer, with_attendees
from .viewsets import CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin, UpdateMixin, plain_shape, rows_of

ADDENDA_ORDER = ("created_at",)
SECTIONS_HELP = "Text per section of the note's format: " + "; ".join(
    f"{fmt}: {', '.join(names)}" for fmt, names in NOTE_SECTIONS.items()
)


class AddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = NoteAddendum
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = fields


class NoteSerializer(serializers.ModelSerializer):
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text=SECTIONS_HELP)
    addenda = AddendumSerializer(many=True, read_only=True)

    class Meta:
        model = ProgressNote
        fields = [
            "id",
            "case",
            "author",
            "session_date",
            "session",
            "partner",
            "format",
            "sections",
            "goals_addressed",
            "status",
            "signed_at",
            "cosign_required",
            "cosigned_by",
            "cosigned_at",
            "entered_in_error_reason",
            "addenda",
            "created_at",
            "updated_at",
            "version",
        ]
        read_only_fields = fields


class NoteWriteSerializer(JSONTypes, serializers.Serializer):
    session_date = serializers.DateField()
    format = serializers.ChoiceField(choices=NoteFormat.choices)
    sections = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=20000, trim_whitespace=False),
        help_text=SECTIONS_HELP,
    )
    goals_addressed = serializers.ListField(
        child=ScopedPrimaryKeyRelatedField(selectors.goals_visible_to), required=False, max_length=50
    )


class NoteCreateSerializer(NoteWriteSerializer):
    case = ScopedPrimaryKeyRelatedField(selectors.cases_visible_to)
    session = ScopedPrimaryKeyRelatedField(
        selectors.sessions_visible_to,
        required=False,
        allow_null=True,
        help_text=(
            "The session of this case the note documents: the note's date follows it, and a second note of yours "
            "for it answers 409 `session_has_note`. An individual session in a couple case makes the note that "
            "partner's (`partner`)."
        ),
    )
    session_date = serializers.DateField(required=False, help_text="Required unless the note names its session.")


class AddendumCreateSerializer(JSONTypes, serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class EnteredInErrorSerializer(JSONTypes, serializers.Serializer):
    reason = serializers.CharField(max_length=500)


# A note's goals addressed, oldest goal first, on every path (the plain read and the serializer alike).
GOALS_ORDER = ("created_at", "id")


@functools.cache
def _goals_statement() -> str:
    """A page's goals addressed (note id, goal id), in GOALS_ORDER as the serializer path prefetches them (an order
    of our own: the database's own differed between the two statements now and then). Written once per process."""
    q = connection.ops.quote_name
    goal, link = q(TreatmentGoal._meta.db_table), q(ProgressNote.goals_addressed.through._meta.db_table)
    return (
        f"SELECT {link}.{q('progressnote_id')}, {goal}.{q('id')} FROM {goal} "  # noqa: S608 - the models' own names
        f"INNER JOIN {link} ON ({goal}.{q('id')} = {link}.{q('treatmentgoal_id')}) "
        f"WHERE {link}.{q('progressnote_id')} = ANY(%s) "
        f"ORDER BY {', '.join(f'{goal}.{q(TreatmentGoal._meta.get_field(name).column)}' for name in GOALS_ORDER)}"
    )


class NoteFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    status = filters.ChoiceFilter(choices=NoteStatus.choices)
    author = filters.UUIDFilter()

    class Meta:
        model = ProgressNote
        fields = ["case", "status", "author"]


@extend_schema_view(
    list=extend_schema(summary="List progress notes", tags=["notes"]),
    retrieve=extend_schema(summary="Get a progress note", tags=["notes"]),
    create=extend_schema(summary="Write a draft progress note", tags=["notes"]),
    partial_update=extend_schema(summary="Edit your draft note (signed notes answer 409)", tags=["notes"]),
)
class NoteViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, ResourceViewSet):
    resource = "note"
    selector = selectors.notes_visible_to
    serializer_class = NoteSerializer
    filterset_class = NoteFilter
    request_serializers = {
        "create": NoteCreateSerializer,
        "partial_update": NoteWriteSerializer,
        "addenda": AddendumCreateSerializer,
        "entered_in_error": EnteredInErrorSerializer,
    }
    create_service = services.note_create
    update_service = services.note_update
    action_roles = {"awaiting_cosign": [Role.SUPERVISOR]}
    page_actions = ("list", "awaiting_cosign", "missing")
    if_match_actions = ("sign", "entered_in_error")
    problems = {
        "create": ["not_case_clinician", "case_closed", "session_has_note"],
        "partial_update": ["not_note_author", "note_not_draft"],
        "sign": ["not_note_author", "note_not_draft", "note_incomplete"],
        "cosign": ["not_authors_supervisor", "cosign_not_needed", "already_cosigned"],
        "addenda": ["not_author_or_cosigner", "note_not_signed"],
        "entered_in_error": ["not_note_author", "note_entered_in_error"],
    }

    # Hot reads (a case's notes): plain rows, shaped as NoteSerializer; the goals addressed and the addenda are
    # read for the whole page in one query each (`fill_plain`).
    plain_actions = ("list", "retrieve")
    plain_computed = ("goals_addressed", "addenda")

    def shape_queryset(self, queryset):
        return queryset.prefetch_related(
            Prefetch("goals_addressed", queryset=TreatmentGoal.objects.order_by(*GOALS_ORDER)),
            Prefetch("addenda", queryset=NoteAddendum.objects.order_by(*ADDENDA_ORDER)),
        )

    def fill_plain(self, rows):
        ids = [row["id"] for row in rows]
        goals, addenda = defaultdict(list), defaultdict(list)
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(_goals_statement(), [ids])
                for note_id, goal_id in cursor.fetchall():
                    goals[note_id].append(goal_id)
        shape = plain_shape(AddendumSerializer)
        found = rows_of(NoteAddendum, ("note", *shape.columns), where="note", among=ids, order_by=ADDENDA_ORDER)
        for addendum, shown in zip(found, shape.many(found), strict=True):
            addenda[addendum["note"]].append(shown)
        for row in rows:
            row["goals_addressed"] = goals[row["id"]]
            row["addenda"] = addenda[row["id"]]

    @extend_schema(tags=["notes"])
    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        """Sign your draft; it is locked from then on."""
        return self.act(services.note_sign)

    @extend_schema(tags=["notes"])
    @action(detail=True, methods=["post"])
    def cosign(self, request, pk=None):
        """Co-sign a supervisee's signed note."""
        return self.act(services.note_cosign)

    @extend_schema(tags=["notes"], responses={201: NoteSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def addenda(self, request, pk=None):
        """Add an addendum to a signed note."""
        return self.act(services.note_add_addendum, status_code=status.HTTP_201_CREATED)

    @extend_schema(tags=["notes"])
    @action(detail=True, methods=["post"], url_path="entered-in-error")
    def entered_in_error(self, request, pk=None):
        """Retire a note written in error, with the reason."""
        return self.act(services.note_enter_in_error)

    @extend_schema(
        summary="Attended sessions still without a signed note after the grace period",
        tags=["notes"],
        responses=SessionSerializer(many=True),
    )
    @action(detail=False, methods=["get"], serializer_class=SessionSerializer, filterset_class=None)
    def missing(self, request):
        """Sessions you (or, for a supervisor, your supervisees) attended that have no signed note
        `NOTE_GRACE_HOURS` (72 by default) after they ended, oldest first."""
        self.cursor_ordering = ("starts_at", "id")  # the page's rows are sessions, in the order they were held
        return self.page(with_attendees(selectors.sessions_missing_a_note(user=request.user)), resource="session")

    @extend_schema(tags=["notes"], responses=NoteSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="awaiting-cosign")
    def awaiting_cosign(self, request):
        """Notes waiting for your co-signature."""
        awaiting = selectors.notes_awaiting_cosign_for(supervisor=request.user).values("pk")
        return self.page(self.get_queryset().filter(pk__in=awaiting))
