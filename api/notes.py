"""Progress notes: drafts, signing, co-signature, addenda, retirement."""

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import NOTE_SECTIONS, NoteAddendum, NoteFormat, NoteStatus, ProgressNote, Role
from clinical.services import notes as services

from .etags import expected_version
from .filters import ScopedIdFilter
from .idempotency import idempotent
from .records import ClinicalViewSet
from .scoping import ScopedPrimaryKeyRelatedField

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


class NoteWriteSerializer(serializers.Serializer):
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


class AddendumCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class EnteredInErrorSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class NoteFilter(filters.FilterSet):
    case = ScopedIdFilter(selectors.cases_visible_to, field_name="case")
    status = filters.ChoiceFilter(choices=NoteStatus.choices)
    author = filters.UUIDFilter()

    class Meta:
        model = ProgressNote
        fields = ["case", "status", "author"]


SOAP_EXAMPLE = OpenApiExample(
    "SOAP draft",
    request_only=True,
    value={
        "case": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "session_date": "2026-11-20",
        "format": "soap",
        "sections": {
            "subjective": "Both partners describe a calmer week; one check-in skipped.",
            "objective": "Used 'I' statements when prompted; one escalation, self-corrected.",
            "assessment": "Communication improving; trust work ongoing.",
            "plan": "Continue weekly check-in; introduce reflective listening exercise.",
        },
        "goals_addressed": [],
    },
)


def _note_action(summary, request=None):
    return extend_schema(summary=summary, tags=["notes"], request=request, responses=NoteSerializer)


@extend_schema_view(
    list=extend_schema(summary="List progress notes", tags=["notes"]),
    retrieve=extend_schema(summary="Get a progress note", tags=["notes"]),
    create=extend_schema(
        summary="Write a draft progress note",
        tags=["notes"],
        request=NoteCreateSerializer,
        responses={201: NoteSerializer},
        examples=[SOAP_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Edit your draft note (signed notes answer 409)",
        tags=["notes"],
        request=NoteWriteSerializer,
        responses=NoteSerializer,
    ),
    sign=_note_action("Sign your draft; it is locked from then on"),
    cosign=_note_action("Co-sign a supervisee's signed note"),
    addenda=_note_action("Add an addendum to a signed note", AddendumCreateSerializer),
    entered_in_error=_note_action("Retire a note written in error, with the reason", EnteredInErrorSerializer),
    awaiting_cosign=extend_schema(
        summary="Notes waiting for your co-signature", tags=["notes"], responses=NoteSerializer(many=True)
    ),
)
class NoteViewSet(ClinicalViewSet):
    selector = selectors.notes_visible_to
    serializer_class = NoteSerializer
    filterset_class = NoteFilter
    audit_type = "note"
    action_roles = {"awaiting_cosign": [Role.SUPERVISOR]}
    if_match_actions = ("sign", "entered_in_error")
    extra_problems = {
        action: [409] for action in ("create", "partial_update", "sign", "cosign", "addenda", "entered_in_error")
    }

    def shape_queryset(self, queryset):
        return queryset.prefetch_related(
            "goals_addressed", Prefetch("addenda", queryset=NoteAddendum.objects.order_by("created_at"))
        )

    def list(self, request):
        return self.list_response(self.get_queryset())

    def retrieve(self, request, pk=None):
        return self.retrieve_response(self.get_object())

    @idempotent
    def create(self, request):
        data = NoteCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return self.created(services.note_create(actor=request.user, **data.validated_data))

    def partial_update(self, request, pk=None):
        note = self.get_object()
        version = expected_version(request)
        data = NoteWriteSerializer(data=request.data, partial=True, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        return self.respond(
            services.note_update(actor=request.user, note=note, expected_version=version, **data.validated_data)
        )

    @action(detail=True, methods=["post"])
    def sign(self, request, pk=None):
        note = self.get_object()
        version = expected_version(request, required=False)
        return self.respond(services.note_sign(actor=request.user, note=note, expected_version=version))

    @action(detail=True, methods=["post"])
    def cosign(self, request, pk=None):
        return self.respond(services.note_cosign(actor=request.user, note=self.get_object()))

    @action(detail=True, methods=["post"])
    @idempotent
    def addenda(self, request, pk=None):
        note = self.get_object()
        data = AddendumCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.note_add_addendum(actor=request.user, note=note, **data.validated_data)
        return self.created(note)

    @action(detail=True, methods=["post"], url_path="entered-in-error")
    def entered_in_error(self, request, pk=None):
        data = EnteredInErrorSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self.respond(
            services.note_enter_in_error(
                actor=request.user,
                note=self.get_object(),
                expected_version=expected_version(request, required=False),
                **data.validated_data,
            )
        )

    @action(detail=False, methods=["get"], url_path="awaiting-cosign")
    def awaiting_cosign(self, request):
        awaiting = selectors.notes_awaiting_cosign_for(supervisor=request.user).values("pk")
        return self.list_response(self.get_queryset().filter(pk__in=awaiting))
