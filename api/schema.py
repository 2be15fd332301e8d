"""OpenAPI generation: every operation documents its error responses and the headers it uses.

Error responses are derived from what the operation really does, so they cannot drift from the code:
authentication (401, 403), path parameters (404), a body or query parameters (400), a body (413, 415),
PATCH with If-Match (412, 428), Idempotency-Key (409, 422, 428), throttling (429), a database (503).
A view names the codes its actions raise beyond these with `problems = {"action": ["case_closed"]}`. Each error
response lists its codes (api/problems.py) in its description and in `x-problem-codes`.
"""

import inspect

from drf_spectacular.contrib.django_oauth_toolkit import DjangoOAuthToolkitScheme
from drf_spectacular.drainage import warn
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

from exercises.responses import FIELD_TYPES, definition_schema

from .errors import PROBLEM_MEDIA_TYPE, TYPE_BY_STATUS
from .filters import ScopedIdFilter
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import KEY_PATTERN as IDEMPOTENCY_KEY_PATTERN
from .idempotency import REPLAYED_HEADER, idempotency_label
from .json_types import DATE_RANGE
from .problems import CODES


class BearerTokenScheme(DjangoOAuthToolkitScheme):
    """The OAuth 2 security scheme and per-operation scopes, for our subclass of DOT's authentication."""

    target_class = "api.authentication.BearerTokenAuthentication"


class ResponseFieldsExtension(OpenApiSerializerFieldExtension):
    """An exercise's response fields as the domain declares them (exercises/responses.py): one component per field
    type, and the list a union of them discriminated by `type`, so that a generated client gets one typed model per
    kind of question and a mobile app can build the form from the contract."""

    target_class = "api.serializers.ResponseFieldsField"

    def map_serializer_field(self, auto_schema, direction):
        refs = {}
        for kind in FIELD_TYPES:
            name = "".join(word.capitalize() for word in kind.split("_")) + "ResponseField"
            component = ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=definition_schema(kind)
            )
            auto_schema.registry.register_on_missing(component)
            refs[kind] = component.ref
        return {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": list(refs.values()),
                "discriminator": {
                    "propertyName": "type",
                    "mapping": {kind: ref["$ref"] for kind, ref in refs.items()},
                },
            },
        }


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="Dotted path of the field; null for the whole input.")
    code = serializers.CharField(
        help_text="Stable machine-readable reason: DRF's (`required`, `invalid`, ...) or this API's (`field_codes` "
        "at /api/problems/)."
    )
    message = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="URI reference identifying the problem type (GET it for a description).")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="Stable machine-readable code; branch on this. GET /api/problems/ lists every code with its status "
        "and meaning; each error response of an operation names the codes it can answer."
    )
    instance = serializers.CharField(required=False, help_text="The request path.")


class ValidationProblemSerializer(ProblemSerializer):
    errors = FieldErrorSerializer(many=True, help_text="One entry per problem, by field.")


RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "description": '`Bearer realm="api"` without a token; `Bearer realm="api", error="invalid_token"` when the '
        "token sent is invalid, expired or revoked (RFC 6750 §3).",
    }
}
HEADERS_BY_STATUS = {401: WWW_AUTHENTICATE, 429: RETRY_AFTER, 503: RETRY_AFTER}
# Text holds no control characters but tab and line breaks (api/json_types.py).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
TEXT = rf"^[^{CONTROL}]*$"
# ... and, where DRF trims it, at least one character that is not white space, as Python's str.strip() counts it:
# regex \s plus the separators U+001C..U+001F (control characters already) and U+0085, which JavaScript's \s lacks.
NOT_ONLY_SPACES = rf"^[^{CONTROL}]*[^\s{CONTROL}\x85][^{CONTROL}]*$"
IDEMPOTENCY_DESCRIPTION = (
    "A fresh unique value (e.g. a UUID) per logical request. A retry with the same key and body returns "
    "the first response instead of acting twice."
)
IF_MATCH_DESCRIPTION = "The ETag from your last read; the change is refused (412) if the resource changed since."


class AutoSchema(SpectacularAutoSchema):
    def _handler(self):
        action = getattr(self.view, "action", None)
        return getattr(self.view, action, None) if action else getattr(self.view, self.method.lower(), None)

    def _handler_doc(self) -> tuple[str, str]:
        doc = inspect.getdoc(self._handler()) or ""
        summary, _, rest = doc.partition("\n\n")
        return " ".join(summary.split()), rest.strip()

    def get_request_serializer(self):
        """A view that declares `request_serializers` (see api/records.py) names each action's request body;
        an action it does not list takes none."""
        declared = getattr(self.view, "request_serializers", None)
        if declared is None:
            return super().get_request_serializer()
        return declared.get(getattr(self.view, "action", None))

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "request" and type(field) is serializers.CharField:
            # DRF trims text and then refuses it when empty: "   " is not a title. Say so (found by fuzzing).
            meta["pattern"] = TEXT if field.allow_blank or not field.trim_whitespace else NOT_ONLY_SPACES
        if direction == "request" and type(field) is serializers.DateField:
            meta["description"] = " ".join(filter(None, [meta.get("description"), DATE_RANGE]))
        return meta

    def get_summary(self):
        """The first paragraph of the handler's docstring, unless @extend_schema gives one."""
        return super().get_summary() or self._handler_doc()[0].rstrip(".") or None

    def get_description(self):
        """The rest of the handler's docstring."""
        return self._handler_doc()[1]

    def _idempotency(self) -> str | None:
        return idempotency_label(self.view, self._handler())

    def _optional_if_match(self) -> bool:
        return self.method == "POST" and getattr(self.view, "action", None) in getattr(
            self.view, "if_match_actions", ()
        )

    def _uses_etag(self) -> bool:
        return getattr(self.view, "etag", False) and not self._is_list_view()

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        idempotency = self._idempotency()
        if idempotency:
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=idempotency == "required",
                    description=IDEMPOTENCY_DESCRIPTION,
                    pattern=IDEMPOTENCY_KEY_PATTERN,
                )
            )
            parameters.append(
                OpenApiParameter(
                    REPLAYED_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    response=[200, 201],
                    enum=["true"],
                    description="Present when this response is the stored answer to an earlier request.",
                )
            )
        if self._uses_etag():
            if self._optional_if_match():
                parameters.append(
                    OpenApiParameter(
                        "If-Match",
                        str,
                        OpenApiParameter.HEADER,
                        required=False,
                        description="Optional: the ETag from your last read; refused (412) if the record changed.",
                    )
                )
            if self.method in ("PATCH", "PUT"):
                parameters.append(
                    OpenApiParameter(
                        "If-Match",
                        str,
                        OpenApiParameter.HEADER,
                        required=True,
                        description=IF_MATCH_DESCRIPTION,
                    )
                )
            parameters.append(
                OpenApiParameter(
                    "ETag",
                    str,
                    OpenApiParameter.HEADER,
                    response=[200, 201],
                    description="The resource's current version; send it back in If-Match to change it.",
                )
            )
        return parameters

    def _has_scoped_filter(self) -> bool:
        """A list filter naming a related record answers 404 when that record is out of reach."""
        filterset = getattr(self.view, "filterset_class", None)
        return (
            self._is_list_view()
            and filterset is not None
            and any(isinstance(f, ScopedIdFilter) for f in filterset.base_filters.values())
        )

    def _problem_codes(self, operation) -> set[str]:
        """The `code`s this operation can answer: derived from what it does, plus what the view declares."""
        view = self.view
        # Every operation refuses query parameters it does not take (api/viewsets.py, KnownQueryParameters).
        codes = {"invalid", "not_acceptable", "database_unavailable"}
        for permission in view.get_permissions():
            if isinstance(permission, IsAuthenticated):
                codes |= {"not_authenticated", "invalid_token"}
            elif getattr(permission, "code", None):  # TokenHasScopes, RoleAllowed
                codes.add(permission.code)
        if "{" in self.path or self._has_scoped_filter():
            codes.add("not_found")
        if "requestBody" in operation:
            codes |= {"malformed_body", "nesting_too_deep", "malformed_request", "payload_too_large"}
            codes.add("unsupported_media_type")
        if self._uses_etag() and self.method in ("PATCH", "PUT"):
            codes |= {"stale_version", "precondition_required"}
        if self._uses_etag() and self._optional_if_match():
            codes.add("stale_version")
        idempotency = self._idempotency()
        if idempotency:
            codes |= {"idempotency_key_in_use", "idempotency_key_reused"}
            if idempotency in ("required", "conditional"):
                codes.add("precondition_required")
        if view.get_throttles():
            codes.add("throttled")
        action = getattr(view, "action", None) or self.method.lower()
        declared = set(getattr(view, "problems", {}).get(action, ()))
        for code in sorted(declared - CODES.keys()):
            warn(f"{type(view).__name__}.problems names {code!r}, which is not in the catalog (api/problems.py)")
        return codes | (declared & CODES.keys())

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if not operation.get("summary"):
            warn(f"{method} {path} has no summary")
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        invalid = self.resolve_serializer(ValidationProblemSerializer, "response").ref
        by_status = {}
        for code in sorted(self._problem_codes(operation)):
            by_status.setdefault(CODES[code].status, []).append(code)
        for status, codes in sorted(by_status.items()):
            response = {
                "description": f"{TYPE_BY_STATUS[status].title}: " + ", ".join(f"`{c}`" for c in codes) + ".",
                "content": {PROBLEM_MEDIA_TYPE: {"schema": invalid if status == 400 else problem}},
                "x-problem-codes": codes,
            }
            if status in HEADERS_BY_STATUS:
                response["headers"] = HEADERS_BY_STATUS[status]
            operation["responses"].setdefault(str(status), response)
        return operation
