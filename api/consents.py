"""Consents (issue 17): the documents a client consents to (`consent-documents/`, published by the practice admin),
a client's consents in the app (`me/consents/`), and their clinician's record of consents given on paper or
verbally (`consents/`)."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action

from clinical import selectors
from clinical.models import Consent, ConsentDocument, ConsentKind, ConsentMethod, Role
from clinical.services import consents as services

from .filters import ScopedIdFilter
from .json_types import JSONTypes
from .scoping import ScopedPrimaryKeyRelatedField
from .serializers import ConsentSerializer
from .viewsets import CLINICIANS, CreateMixin, ListMixin, ResourceViewSet, RetrieveMixin

KINDS = (
    "`treatment`: to be treated (a couple case opens when both partners gave it); "
    "`electronic_communication`: reminders and other contact through the app; "
    "`release_of_records`: a release of records to `released_to` for `release_purpose`; "
    "`recording`: sessions may be recorded."
)

# ---------------------------------------------------------------- documents


class ConsentDocumentSerializer(serializers.ModelSerializer):
    published_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ConsentDocument
        fields = ["id", "kind", "title", "version", "text", "digest", "published_at"]
        read_only_fields = fields
        extra_kwargs = {"digest": {"help_text": "SHA-256 of `text`, hex: what a consent to this version agreed to."}}


class ConsentDocumentPublishSerializer(JSONTypes, serializers.Serializer):
    kind = serializers.ChoiceField(choices=ConsentKind.choices, help_text=KINDS)
    title = serializers.CharField(max_length=200)
    version = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
        help_text="The practice's name for this version (e.g. `2027-01` or `3`), unique for the kind.",
    )
    text = serializers.CharField(max_length=50_000, help_text="The whole text the client reads before consenting.")


class ConsentDocumentFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=ConsentKind.choices)

    class Meta:
        model = ConsentDocument
        fields = ["kind"]


@extend_schema_view(
    list=extend_schema(summary="List consent documents, every version", tags=["consents"]),
    retrieve=extend_schema(summary="Get a consent document", tags=["consents"]),
    create=extend_schema(summary="Publish a consent document's new version (practice admin)", tags=["consents"]),
)
class ConsentDocumentViewSet(ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    """The texts clients consent to, every version kept (a consent names the one it was given to). The newest of a
    kind is the one a client is asked to consent to. The same for everyone: no read audit, no ETag."""

    resource = "consent_document"
    object_keyword = "document"
    selector = selectors.consent_documents_visible_to
    serializer_class = ConsentDocumentSerializer
    filterset_class = ConsentDocumentFilter
    request_serializers = {"create": ConsentDocumentPublishSerializer}
    create_service = services.consent_document_publish
    created_as_answered = True
    audited = False
    etag = False
    read_scopes = [["clinical:read"], ["homework"], ["admin"]]
    write_scopes = ["admin"]
    allowed_roles = [*CLINICIANS, Role.CLIENT, Role.ADMIN]
    action_roles = {"create": [Role.ADMIN]}
    http_method_names = ["get", "post", "head", "options"]
    problems = {"create": ["consent_document_version_taken", "consent_document_unchanged"]}


# ---------------------------------------------------------------- consents


class ReleaseTermsMixin(serializers.Serializer):
    released_to = serializers.CharField(
        max_length=200, required=False, help_text="A release: who receives the records."
    )
    release_purpose = serializers.CharField(
        max_length=500, required=False, help_text="A release: what the records are for."
    )


class ConsentGiveSerializer(JSONTypes, ReleaseTermsMixin):
    kind = serializers.ChoiceField(choices=ConsentKind.choices, help_text=KINDS)
    document = ScopedPrimaryKeyRelatedField(
        selectors.consent_documents_visible_to,
        required=False,
        allow_null=True,
        help_text="The document version read (`GET /consent-documents/?kind=`); the newest of the kind if omitted.",
    )


class ConsentRecordSerializer(ConsentGiveSerializer):
    client = ScopedPrimaryKeyRelatedField(selectors.clients_visible_to)
    method = serializers.ChoiceField(
        choices=[(m, m) for m in (ConsentMethod.PAPER, ConsentMethod.VERBAL)],
        help_text="`paper`: a signed form; `verbal`: said aloud before `witness`.",
    )
    witness = serializers.CharField(max_length=200, required=False, help_text="Who witnessed a verbal consent.")
    given_at = serializers.DateTimeField(required=False, help_text="When it was given; now if omitted.")


class ConsentFilter(filters.FilterSet):
    client = ScopedIdFilter(selectors.clients_visible_to, field_name="client")
    kind = filters.ChoiceFilter(choices=ConsentKind.choices)
    in_force = filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", help_text="`true`: only consents not revoked."
    )

    class Meta:
        model = Consent
        fields = ["client", "kind", "in_force"]


class ConsentActions:
    """What both consent resources share: the document read with each consent, and revoking."""

    def shape_queryset(self, queryset):
        return queryset.select_related("document")

    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """Revoke a consent: it ends now and is kept, with when and by whom (revoking it again changes nothing).
        Without a consent to electronic communication in force, no reminder is sent to any of the client's
        devices; without both partners' consent to treatment, no new couple case opens for them."""
        return self.act(services.consent_revoke, fetched=True)


@extend_schema_view(
    list=extend_schema(summary="List your clients' consents", tags=["consents"]),
    retrieve=extend_schema(summary="Get a client's consent", tags=["consents"]),
    create=extend_schema(summary="Record a consent given on paper or verbally", tags=["consents"]),
    revoke=extend_schema(
        summary="Record a client's revocation of a consent",
        tags=["consents"],
        request=None,
        responses=ConsentSerializer,
    ),
)
class ConsentViewSet(ConsentActions, ListMixin, RetrieveMixin, CreateMixin, ResourceViewSet):
    """Staff: the consents of the clients they see; a client's clinician records those given outside the app."""

    resource = "consent"
    selector = selectors.consents_visible_to
    serializer_class = ConsentSerializer
    filterset_class = ConsentFilter
    request_serializers = {"create": ConsentRecordSerializer}
    create_service = services.consent_record
    created_as_answered = True
    allowed_roles = CLINICIANS
    http_method_names = ["get", "post", "head", "options"]
    etag = False
    problems = {"create": ["not_case_clinician", "consent_document_missing"], "revoke": ["not_case_clinician"]}


@extend_schema_view(
    list=extend_schema(summary="My consents, in force and revoked (client app)", tags=["me"]),
    create=extend_schema(summary="Consent, e.g. to treatment or electronic communication (client app)", tags=["me"]),
    revoke=extend_schema(
        summary="Revoke a consent (client app)", tags=["me"], request=None, responses={200: ConsentSerializer}
    ),
)
class MyConsentsViewSet(ConsentActions, ListMixin, CreateMixin, ResourceViewSet):
    resource = "consent"
    selector = selectors.consents_visible_to
    serializer_class = ConsentSerializer
    request_serializers = {"create": ConsentGiveSerializer}
    create_service = services.consent_give
    created_as_answered = True
    read_scopes = ["homework"]
    write_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "post", "head", "options"]
    etag = False
    problems = {"create": ["not_a_client", "consent_document_missing"]}
