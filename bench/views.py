"""The baselines the benchmark compares the API with, served by the same gunicorn, middleware and pool.

- `floor/`: an empty JsonResponse — what Django itself costs per request.
- `noop/`: an authenticated no-op through the API's own machinery — the bearer token checked by
  api.authentication.BearerTokenAuthentication (and its token cache), scope and role permissions, throttles,
  query-parameter checks and content negotiation of `ResourceViewSet` — that scopes nothing and answers `{}`:
  what every API request costs before its own work. No-op / floor is the framework's fixed cost per request.
- `replay/<name>/` (R): the exact statements the API ran for that endpoint (recorded by `bench_prepare`), through
  `connection.cursor()` in one transaction, rows returned with orjson: the SQL's cost without the framework.
  The audit insert gets the chain's current head as its previous hash and a fresh hash, as the API's does.
- `insert/`: the submission INSERT the API ran, with a fresh id, and nothing else (no validation, idempotency
  or audit): the floor for the submission POST.
"""

import hashlib
import json
import os
import re
import uuid
from functools import cache

import orjson
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response

from api.viewsets import ResourceViewSet

AUDIT_HEAD = 'SELECT hash FROM "clinical_auditevent"'  # after the chain's lock, in one round trip (kernel.audit)
AUDIT_INSERT = 'INSERT INTO "clinical_auditevent"'
SUBMISSION_INSERT = 'INSERT INTO "clinical_homeworksubmission"'
AUDIT_HASHES = re.compile(r"'[0-9a-f]{64}', '[0-9a-f]{64}'\) RETURNING")
FIRST_UUID = re.compile(r"VALUES \('[0-9a-f]{32}'::uuid")


@cache
def plan() -> dict:
    with open(os.environ["BENCH_PLAN"]) as file:
        return json.load(file)


def _json(data, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(data, default=str), content_type="application/json", status=status)


def floor(request):
    return JsonResponse({})


def replay(request, name: str):
    rows, head = [], None
    with connection.cursor() as cursor:
        for sql in plan()["statements"][name]:
            if AUDIT_INSERT in sql:
                fresh = hashlib.sha256(f"{head}{uuid.uuid4()}".encode()).hexdigest()
                sql = AUDIT_HASHES.sub(f"'{head}', '{fresh}') RETURNING", sql)
            cursor.execute(sql)
            if AUDIT_HEAD in sql:  # the lock's result first, then the head's
                while cursor.nextset():
                    pass
                (head,) = cursor.fetchone()
                rows.append([[head]])
            elif cursor.description is not None:
                rows.append(cursor.fetchall())
    return _json(rows)


@csrf_exempt
def insert(request):
    statement = next(sql for sql in plan()["statements"]["submission_post"] if SUBMISSION_INSERT in sql)
    with connection.cursor() as cursor:
        cursor.execute(FIRST_UUID.sub(f"VALUES ('{uuid.uuid4().hex}'::uuid", statement, count=1))
        return _json(cursor.fetchall() if cursor.description else [], status=201)


class NoopViewSet(ResourceViewSet):
    """A clinician's read that reads nothing: no selector is called, no audit event, no ETag."""

    resource = "noop"
    audited = False
    etag = False

    def list(self, request):
        return Response({})


urlpatterns = [
    path("floor/", floor),
    path("noop/", NoopViewSet.as_view({"get": "list"})),
    path("replay/<str:name>/", replay),
    path("insert/", insert),
]
