"""The caller's own account: who the token belongs to, a staff member's second factor for signing in, the goals of a
client's own therapy, and how a client creates their app login from an invitation."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from clinical import selectors
from clinical.models import MFA_ROLES, Role, TreatmentGoal, User
from clinical.services import mfa as mfa_services
from clinical.services.invitations import invitation_accept

from .json_types import JSONTypes
from .renderers import qr_code_data_uri
from .throttling import CountsSurviveFailureMixin, ScopedRate, code_throttles
from .viewsets import KnownQueryParameters, ListMixin, ResourceViewSet


class MeSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "role", "display_name"]
        read_only_fields = fields


class MeView(KnownQueryParameters, APIView):
    read_scopes = []  # any valid token may ask who it belongs to
    allowed_roles = Role.values

    @extend_schema(responses=MeSerializer, tags=["me"])
    def get(self, request):
        """The caller: who the access token belongs to and their role."""
        return Response(MeSerializer(request.user).data)


class MyGoalSerializer(serializers.ModelSerializer):
    class Meta:
        model = TreatmentGoal
        fields = ["id", "title", "domain", "lifecycle_status", "achievement_status", "updated_at"]
        read_only_fields = fields


@extend_schema_view(list=extend_schema(summary="The goals of your own therapy (client app)", tags=["me"]))
class MyGoalsViewSet(ListMixin, ResourceViewSet):
    """A client sees the titles, domains and statuses of the goals on their own cases, nothing else."""

    resource = "goal"
    selector = selectors.goals_visible_to
    serializer_class = MyGoalSerializer
    read_scopes = ["homework"]
    allowed_roles = [Role.CLIENT]
    http_method_names = ["get", "head", "options"]
    etag = False


# ---------------------------------------------------------------- a staff member's second factor


class MfaStatusSerializer(serializers.Serializer):
    enrolled = serializers.BooleanField(help_text="An authenticator app was added (confirmed or not yet).")
    confirmed = serializers.BooleanField(
        help_text="The app's first code confirmed it: every sign-in asks for a code, and the password grant is "
        "refused for this account."
    )
    required = serializers.BooleanField(
        help_text="The practice requires a second factor of every staff account: it cannot be removed, and a "
        "sign-in without one is taken through enrolment first."
    )
    recovery_codes_left = serializers.IntegerField(
        min_value=0, help_text="Unused single-use recovery codes (0 unless confirmed)."
    )


class MfaEnrolmentSerializer(serializers.Serializer):
    otpauth_uri = serializers.CharField(
        help_text="The `otpauth://totp/...` URI an authenticator app takes (the QR code's content); it holds the "
        "secret. Shown in this answer only."
    )
    secret = serializers.CharField(
        help_text="The secret in base32, for typing into an app that cannot scan (TOTP: SHA-1, 6 digits, 30 s)."
    )
    qr_code = serializers.CharField(
        help_text='The otpauth URI as a QR code: a PNG in a `data:image/png;base64,...` URI, for `<img src="...">`.'
    )


class MfaRecoveryCodesSerializer(MfaStatusSerializer):
    recovery_codes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Single-use codes that sign in in place of the app's (a lost phone). Shown in this answer only: "
        "only their digests are kept. Each works once; asking for new ones ends the old ones.",
    )


class MfaCodeSerializer(JSONTypes, serializers.Serializer):
    code = serializers.CharField(
        max_length=32, help_text="The 6-digit code your authenticator app shows now (or, where taken, a recovery code)."
    )


@extend_schema_view(
    retrieve=extend_schema(summary="Your second factor for signing in: enrolled, confirmed, required (staff)"),
    create=extend_schema(
        summary="Start enrolling an authenticator app (staff)",
        description="Answers the otpauth URI, its secret and a QR code of it, in this answer only (not idempotent on "
        "purpose: a stored answer would keep the secret). The app is used only once `confirm/` took its first code; "
        "starting again replaces an enrolment not yet confirmed. Each step is audited, never the secret.",
        responses={201: MfaEnrolmentSerializer},
    ),
)
@extend_schema(tags=["me"])
class MyMfaViewSet(ResourceViewSet):
    """The caller's own second factor for signing in (TOTP, django-otp): staff and the practice admin. Codes are
    throttled per account and per address, as passwords are, and django-otp's back-off applies on top."""

    resource = "mfa"
    selector = selectors.mfa_devices_visible_to
    serializer_class = MfaStatusSerializer
    request_serializers = {
        "confirm": MfaCodeSerializer,
        "recovery_codes": MfaCodeSerializer,
        "remove": MfaCodeSerializer,
    }
    read_scopes = [["clinical:read"], ["admin"]]
    write_scopes = [["clinical:write"], ["admin"]]
    allowed_roles = list(MFA_ROLES)
    http_method_names = ["get", "post", "head", "options"]
    audited = False  # no clinical content; every change is audited by the services
    etag = False
    problems = {
        "create": ["mfa_already_enrolled"],
        "confirm": ["mfa_not_pending", "mfa_code_invalid"],
        "recovery_codes": ["mfa_not_enrolled", "mfa_code_invalid"],
        "remove": ["mfa_not_enrolled", "mfa_required", "mfa_code_invalid"],
    }

    def get_throttles(self):
        return code_throttles() if self.action in self.request_serializers else []

    def status_of(self, **extra):
        return {**selectors.mfa_status(user=self.request.user), **extra}

    def retrieve(self, request):
        return self.present(self.status_of(), MfaStatusSerializer)

    def create(self, request):
        enrolment = mfa_services.mfa_enrol_start(actor=request.user)
        data = {"otpauth_uri": enrolment.otpauth_uri, "secret": enrolment.secret}
        data["qr_code"] = qr_code_data_uri(enrolment.otpauth_uri)
        return Response(MfaEnrolmentSerializer(data).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=MfaRecoveryCodesSerializer)
    def confirm(self, request):
        """Confirm your authenticator app with its first code: from now on signing in asks for a code (staff)

        Answers the recovery codes, in this answer only: keep them somewhere safe, apart from the phone.
        """
        codes = mfa_services.mfa_enrol_confirm(actor=request.user, **self.validated())
        return self.present(self.status_of(recovery_codes=codes), MfaRecoveryCodesSerializer)

    @extend_schema(responses=MfaRecoveryCodesSerializer)
    def recovery_codes(self, request):
        """New recovery codes for a current code; the old ones stop working (staff)

        The code is the app's or one of your recovery codes. The new codes are in this answer only.
        """
        codes = mfa_services.mfa_recovery_codes_regenerate(actor=request.user, **self.validated())
        return self.present(self.status_of(recovery_codes=codes), MfaRecoveryCodesSerializer)

    @extend_schema(responses=MfaStatusSerializer)
    def remove(self, request):
        """Stop signing in with a second factor, for a current code (staff)

        The code is the app's or a recovery code. Refused (409 `mfa_required`) while the practice requires a second
        factor of staff; an admin can still reset it (`POST staff/{id}/mfa-reset/`).
        """
        mfa_services.mfa_remove(actor=request.user, **self.validated())
        return self.present(self.status_of(), MfaStatusSerializer)


# ---------------------------------------------------------------- accepting an invitation


class InvitationAcceptSerializer(JSONTypes, serializers.Serializer):
    token = serializers.CharField(max_length=200)
    email = serializers.EmailField(max_length=254, help_text="The e-mail address to sign in with.")
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class InvitationAcceptThrottle(ScopedRate):
    scope = "invitation_accept"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class InvitationAcceptView(CountsSurviveFailureMixin, KnownQueryParameters, APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [InvitationAcceptThrottle]

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MeSerializer}, tags=["me"])
    def post(self, request):
        """Accept an invitation: create your app login with the token your therapist gave you.

        Then sign in through OAuth (authorization code + PKCE) with this e-mail and password.
        """
        data = InvitationAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = invitation_accept(**data.validated_data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)
