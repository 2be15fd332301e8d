"""The FHIR R4 read API under /fhir/r4/: read, search, Patient/$everything and the CapabilityStatement.

The same bearer tokens, scopes and roles as the REST API (api/authentication.py, api/permissions.py): clinicians
and supervisors with `clinical:read`, clients with `homework` (their own record). What a caller reads is what the
selectors let them reach (fhir_r4/search.py), and every clinical record a response contains is appended to the audit
trail as read, in the request's transaction. Errors are FHIR's OperationOutcome, carrying the REST API's stable
problem code (api/problems.py) in `issue.details.coding`.
"""

import re
import uuid

import orjson
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import http_date
from rest_framework import exceptions
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import PROBLEM_TYPE_BASE, exception_handler
from clinical.models import Role
from kernel.audit import audit_append

from .exports import export_start
from .models import BulkExport, BulkExportFile, ExportStatus
from .search import PATIENT, PATIENT_PARAMETER, TYPES

FHIR_MEDIA_TYPE = "application/fhir+json"
FHIR_VERSION = "4.0.1"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
CAPABILITY_DATE = "2026-12-03"  # when what this server serves last changed
OTHER_WHITESPACE = re.compile(r"[^\S \r\n\t]")
JSON_FORMATS = ("json", "application/json", FHIR_MEDIA_TYPE)
DEFAULT_COUNT = 50
MAX_COUNT = 1000
# What a FHIR issue's `code` (issue-type) is for each answer status.
ISSUE_TYPE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 429: "throttled"}


class FhirRenderer(BaseRenderer):
    media_type = FHIR_MEDIA_TYPE
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b"" if data is None else orjson.dumps(data)


class FhirAsJsonRenderer(FhirRenderer):
    """The same body for a client that asks for application/json."""

    media_type = "application/json"


def fhir_string(text: str) -> str:
    """Text as a FHIR string may hold it: no whitespace but space, tab and line breaks (a caller's parameter name
    may hold anything), and never empty."""
    return OTHER_WHITESPACE.sub("\ufffd", text) or "\ufffd"


def _issue(status: int, system: str, code: str, text: str, expression: str | None = None) -> dict:
    issue = {
        "severity": "error",
        "code": ISSUE_TYPE.get(status, "exception" if status >= 500 else "processing"),
        "details": {"coding": [{"system": system, "code": code}], "text": fhir_string(text)},
    }
    if expression is not None:
        issue["expression"] = [fhir_string(expression)]
    return issue


def operation_outcome(problem: dict, system: str) -> dict:
    """A problem+json body as an OperationOutcome: one issue per invalid input (the parameter in `expression`,
    its code in `details`), else one issue with the problem's code; `system`, the problem catalog's URL."""
    status = problem["status"]
    issues = [
        _issue(status, system, error["code"], error["message"], error["field"]) for error in problem.get("errors") or []
    ] or [_issue(status, system, problem.get("code", "error"), problem["detail"])]
    return {"resourceType": "OperationOutcome", "issue": issues}


def _outcome_handler(exc, context):
    """The REST API's answer (its status, code and headers, the transaction rolled back), as an OperationOutcome."""
    problem = exception_handler(exc, context)
    system = context["request"].build_absolute_uri(PROBLEM_TYPE_BASE)
    response = Response(
        operation_outcome(orjson.loads(problem.content), system),
        status=problem.status_code,
        content_type=FHIR_MEDIA_TYPE,
    )
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if problem.has_header(header):
            response[header] = problem[header]
    return response


class InvalidSearch(exceptions.ValidationError):
    def __init__(self, name: str, message: str):
        super().__init__({name: [exceptions.ErrorDetail(message, code="invalid")]})


class FhirView(APIView):
    schema = None  # described by its CapabilityStatement (/fhir/r4/metadata), not by the REST API's contract
    read_scopes = [["clinical:read"], ["homework"]]
    allowed_roles = [Role.CLINICIAN, Role.SUPERVISOR, Role.CLIENT]
    renderer_classes = [FhirRenderer, FhirAsJsonRenderer]
    http_method_names = ["get", "head"]

    def get_exception_handler(self):
        return _outcome_handler

    def base(self) -> str:
        return self.request.build_absolute_uri("/fhir/r4/")

    def answer(self, body: dict) -> Response:
        return Response(body, content_type=FHIR_MEDIA_TYPE)

    def audit(self, found: list[tuple]) -> None:
        """Every clinical record in the answer, as read: one audit event per kind of record."""
        by_type = {}
        for source, record in found:
            if source.audit_type:
                by_type.setdefault(source.audit_type, []).append(record.pk)
        for object_type, ids in by_type.items():
            audit_append(
                actor=self.request.user,
                action="read",
                object_type=object_type,
                object_ids=list(dict.fromkeys(ids)),
                detail={"via": "fhir"},
            )

    def render_all(self, found: list[tuple]) -> list[dict]:
        """(source, record) pairs → resources, each source rendering its records in one batch, in the pairs' order."""
        batches = {}
        for source, record in found:
            batches.setdefault(source, []).append(record)
        rendered = {}
        for source, records in batches.items():
            for record, resource in zip(records, source.render(records, self.base(), self.request.user), strict=True):
                rendered[(source, record.pk)] = resource
        return [rendered[(source, record.pk)] for source, record in found]

    def resource_type(self, name: str):
        if name not in TYPES:
            raise exceptions.NotFound(f"This server has no resource type {name} (see /fhir/r4/metadata).")
        return TYPES[name]


def _checked_id(value: str) -> str:
    """A resource id in a path: ours are UUIDs, so anything else is no resource here."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Http404 from None


class ReadView(FhirView):
    def get(self, request, resource_type, pk):
        sources = self.resource_type(resource_type)
        pk = _checked_id(pk)
        for source in sources:
            record = source.visible(request.user).filter(pk=pk).first()
            if record is not None:
                self.audit([(source, record)])
                return self.answer(self.render_all([(source, record)])[0])
        raise exceptions.NotFound(f"No {resource_type} {pk} here.")


def _instant(name: str, text: str):
    """A FHIR date or dateTime as the start of its span and its end (a date covers its day)."""
    moment = parse_datetime(text) if "T" in text else None
    if moment is not None:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment, moment
    try:
        the_day = parse_date(text)
    except ValueError:
        the_day = None
    if the_day is None:
        raise InvalidSearch(name, f'"{text}" is not a FHIR date or dateTime (2026-12-03, 2026-12-03T10:00:00Z).')
    start = timezone.make_aware(timezone.datetime.combine(the_day, timezone.datetime.min.time()))
    return start, start + timezone.timedelta(days=1)


def last_updated_filter(values: list[str], column: str) -> dict:
    """`_lastUpdated=ge2026-01-01&_lastUpdated=lt2026-02-01` as queryset filters (prefixes eq, gt, ge, lt, le)."""
    filters = {}
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in ("eq", "gt", "ge", "lt", "le") else ("eq", value)
        start, end = _instant("_lastUpdated", text)
        if prefix == "eq" and start == end:
            filters[f"{column}__exact"] = start
        elif prefix == "eq":
            filters[f"{column}__gte"], filters[f"{column}__lt"] = start, end
        elif prefix == "gt":
            filters[f"{column}__gte" if start != end else f"{column}__gt"] = end
        elif prefix == "ge":
            filters[f"{column}__gte"] = start
        elif prefix == "lt":
            filters[f"{column}__lt"] = start
        else:  # le
            filters[f"{column}__lt" if start != end else f"{column}__lte"] = end
    return filters


class SearchView(FhirView):
    COMMON = {"_id", "_lastUpdated", "_count", "_offset", "_format"}

    def get(self, request, resource_type):
        sources = self.resource_type(resource_type)
        taken = self.COMMON | ({PATIENT_PARAMETER[resource_type]} if resource_type in PATIENT_PARAMETER else set())
        unknown = sorted(set(request.query_params) - taken)
        if unknown:
            listed = ", ".join(sorted(taken))
            raise exceptions.ValidationError(
                {
                    name: [
                        exceptions.ErrorDetail(
                            f"{resource_type} is not searched by {name} here (it takes: {listed}).",
                            code="unknown_parameter",
                        )
                    ]
                    for name in unknown
                }
            )
        if request.query_params.get("_format", "json") not in JSON_FORMATS:
            raise InvalidSearch("_format", "This server answers JSON only (_format=json).")
        count = self._integer("_count", DEFAULT_COUNT, 1, MAX_COUNT)
        offset = self._integer("_offset", 0, 0, None)
        querysets = [self._narrowed(source, resource_type) for source in sources]
        found, total, skipped = [], 0, offset
        for source, queryset in zip(sources, querysets, strict=True):
            size = queryset.count()
            total += size
            if len(found) < count and skipped < size:
                rows = list(queryset.order_by(source.updated, "pk")[skipped : skipped + count - len(found)])
                found += [(source, row) for row in rows]
            skipped = max(0, skipped - size)
        self.audit(found)
        links = [{"relation": "self", "url": request.build_absolute_uri()}]
        if offset + len(found) < total:
            query = request.query_params.copy()
            query["_offset"] = str(offset + len(found))
            links.append({"relation": "next", "url": f"{self.base()}{resource_type}?{query.urlencode()}"})
        return self.answer(bundle(self.render_all(found), self.base(), total=total, links=links))

    def _integer(self, name, default, low, high):
        value = self.request.query_params.get(name)
        if value is None:
            return default
        if not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
            limit = f" and {high}" if high is not None else ""
            raise InvalidSearch(name, f"{name} is a whole number between {low}{limit}.")
        return int(value)

    def _narrowed(self, source, resource_type):
        params = self.request.query_params
        queryset = source.visible(self.request.user)
        if "_id" in params:
            queryset = queryset.filter(pk__in=[_search_id("_id", v) for v in params["_id"].split(",")])
        if "_lastUpdated" in params:
            try:
                queryset = queryset.filter(**last_updated_filter(params.getlist("_lastUpdated"), source.updated))
            except (DjangoValidationError, OverflowError) as exc:
                raise InvalidSearch("_lastUpdated", "Not a FHIR date or dateTime.") from exc
        name = PATIENT_PARAMETER.get(resource_type)
        if name and name in params:
            reference = params[name].removeprefix("Patient/")
            queryset = source.about(queryset, _search_id(name, reference))
        return queryset


def _search_id(name: str, value: str) -> str:
    try:
        return _checked_id(value)
    except Http404:
        raise InvalidSearch(name, f'"{value}" is not an id of this server (a UUID).') from None


def bundle(resources: list[dict], base: str, *, total: int | None = None, links=None) -> dict:
    body = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timezone.now().isoformat(),
        "total": len(resources) if total is None else total,
    }
    if links:
        body["link"] = links
    body["entry"] = [
        {"fullUrl": f"{base}{res['resourceType']}/{res['id']}", "resource": res, "search": {"mode": "match"}}
        for res in resources
    ]
    return body


class EverythingView(FhirView):
    """Patient/{id}/$everything: the client and every resource about them the caller may read, in one Bundle."""

    def get(self, request, pk):
        pk = _checked_id(pk)
        client = PATIENT.visible(request.user).filter(pk=pk).first()
        if client is None:
            raise exceptions.NotFound(f"No Patient {pk} here.")
        found = [(PATIENT, client)]
        questionnaires = set()
        for name, sources in TYPES.items():
            if name == "Patient" or sources[0].about is None:
                continue
            for source in sources:
                rows = source.about(source.visible(request.user), pk).order_by(source.updated, "pk")
                found += [(source, row) for row in rows]
        resources = self.render_all(found)
        for resource in resources:
            if resource["resourceType"] == "QuestionnaireResponse":
                questionnaires.add(resource["questionnaire"].rsplit("/", 1)[1])
        forms = TYPES["Questionnaire"]
        for source in forms:
            rows = source.visible(request.user).filter(pk__in=questionnaires).order_by("created_at", "pk")
            resources += self.render_all([(source, row) for row in rows])
        self.audit(found)
        return self.answer(bundle(resources, self.base()))


class MetadataView(FhirView):
    """The CapabilityStatement: what this server serves (no token needed, as FHIR clients expect)."""

    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return self.answer(capability_statement(self.base()))


def capability_statement(base: str) -> dict:
    common = [
        {"name": "_id", "type": "token", "documentation": "One id, or several separated by commas."},
        {"name": "_lastUpdated", "type": "date", "documentation": "Prefixes eq, gt, ge, lt, le; repeatable."},
        {"name": "_count", "type": "number", "documentation": f"Per page, 1 to {MAX_COUNT} (default {DEFAULT_COUNT})."},
    ]
    resources = []
    for name in TYPES:
        params = list(common)
        if name in PATIENT_PARAMETER:
            params.append(
                {
                    "name": PATIENT_PARAMETER[name],
                    "type": "reference",
                    "documentation": "A Patient's id: the records about that client.",
                }
            )
        entry = {
            "type": name,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        }
        if name == "Patient":
            entry["operation"] = [
                {"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": "Couples Care API",
        "kind": "instance",
        "implementation": {
            "description": "Couples Care: case tracking for couples and relationship therapists",
            "url": base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Read-only. Bearer tokens from the practice's OAuth server (clinical:read for staff, "
                "homework for a client's own record). Errors are OperationOutcome with the REST API's problem code.",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                    "display": "OAuth",
                                }
                            ]
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }


class UnknownView(FhirView):
    """Any other path under /fhir/r4/: an OperationOutcome, not the REST API's problem."""

    authentication_classes = []
    permission_classes = []

    def get(self, request, rest):
        raise exceptions.NotFound("No such FHIR path on this server (see /fhir/r4/metadata).")


# ---------------------------------------------------------------- bulk export (FHIR Bulk Data, system level)

NDJSON_MEDIA_TYPE = "application/fhir+ndjson"
OUTPUT_FORMATS = (NDJSON_MEDIA_TYPE, "application/ndjson", "ndjson")


class NdjsonRenderer(FhirRenderer):
    media_type = NDJSON_MEDIA_TYPE
    format = "ndjson"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else super().render(data, accepted_media_type, renderer_context)


class ExportView(FhirView):
    """The admin's export: `fhir:export`, asked for by name (never a default scope)."""

    read_scopes = ["fhir:export"]
    write_scopes = ["fhir:export"]
    allowed_roles = [Role.ADMIN]


class ExportKickoffView(ExportView):
    """`$export` (GET or POST, `Prefer: respond-async`): 202 with the status URL in Content-Location."""

    http_method_names = ["get", "post"]

    def get(self, request):
        params = request.query_params
        unknown = sorted(set(params) - {"_type", "_since", "_outputFormat"})
        if unknown:
            raise InvalidSearch(unknown[0], "$export takes _type, _since and _outputFormat.")
        types = [t for t in params.get("_type", ",".join(TYPES)).split(",") if t]
        wrong = [t for t in types if t not in TYPES]
        if wrong or not types:
            raise InvalidSearch("_type", f"Exported types are among: {', '.join(TYPES)}.")
        if params.get("_outputFormat", NDJSON_MEDIA_TYPE) not in OUTPUT_FORMATS:
            raise InvalidSearch("_outputFormat", "The export is written as application/fhir+ndjson.")
        since = None
        if "_since" in params:
            since = parse_datetime(params["_since"])
            if since is None or timezone.is_naive(since):
                raise InvalidSearch("_since", "An instant with its time zone (2026-12-01T00:00:00Z).")
        export = export_start(
            actor=request.user, types=list(dict.fromkeys(types)), since=since, request_url=request.build_absolute_uri()
        )
        response = Response(status=202, content_type=FHIR_MEDIA_TYPE)
        response["Content-Location"] = f"{self.base()}$export-status/{export.pk}"
        return response

    post = get


class ExportStatusView(ExportView):
    """While the worker writes: 202 with X-Progress; then the manifest; DELETE cancels or deletes it."""

    http_method_names = ["get", "delete"]

    def export(self, pk) -> BulkExport:
        export = BulkExport.objects.filter(pk=_checked_id(pk), requested_by=self.request.user).first()
        if export is None:
            raise exceptions.NotFound("No such export (an expired one is deleted).")
        return export

    def get(self, request, pk):
        export = self.export(pk)
        if export.status in (ExportStatus.ACCEPTED, ExportStatus.RUNNING):
            response = Response(status=202, content_type=FHIR_MEDIA_TYPE)
            response["X-Progress"] = export.status
            response["Retry-After"] = "5"
            return response
        if export.status == ExportStatus.FAILED:
            return Response(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "exception", "diagnostics": "The export failed."}],
                },
                status=500,
                content_type=FHIR_MEDIA_TYPE,
            )
        files = export.files.order_by("resource_type", "part").values("id", "resource_type", "count")
        response = Response(
            {
                "transactionTime": export.transaction_time.isoformat(),
                "request": export.request_url,
                "requiresAccessToken": True,
                "output": [
                    {"type": f["resource_type"], "url": f"{self.base()}$export-file/{f['id']}", "count": f["count"]}
                    for f in files
                ],
                "error": [],
            },
            content_type="application/json",
        )
        response["Expires"] = http_date(export.expires_at.timestamp())
        return response

    def delete(self, request, pk):
        export = self.export(pk)
        export.delete()
        return Response(status=202, content_type=FHIR_MEDIA_TYPE)


class ExportFileView(ExportView):
    renderer_classes = [NdjsonRenderer, FhirRenderer]

    def get(self, request, pk):
        file = (
            BulkExportFile.objects.filter(
                pk=_checked_id(pk), export__requested_by=request.user, export__expires_at__gt=timezone.now()
            )
            .only("content")
            .first()
        )
        if file is None:
            raise exceptions.NotFound("No such file (an export's files are deleted when it expires).")
        return Response(file.content.encode() + b"\n", content_type=NDJSON_MEDIA_TYPE)
