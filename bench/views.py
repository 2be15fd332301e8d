"""The baselines the benchmark compares the API with, served by the same gunicorn, middleware and pool.

- `floor/`: an empty JsonResponse — what Django itself costs per request.
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

AUDIT_HEAD = 'SELECT "clinical_auditevent"."hash"'
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
            if cursor.description is not None:
                result = cursor.fetchall()
                if sql.startswith(AUDIT_HEAD):
                    head = result[0][0]
                rows.append(result)
    return _json(rows)


@csrf_exempt
def insert(request):
    statement = next(sql for sql in plan()["statements"]["submission_post"] if SUBMISSION_INSERT in sql)
    with connection.cursor() as cursor:
        cursor.execute(FIRST_UUID.sub(f"VALUES ('{uuid.uuid4().hex}'::uuid", statement, count=1))
        return _json(cursor.fetchall() if cursor.description else [], status=201)


urlpatterns = [
    path("floor/", floor),
    path("replay/<str:name>/", replay),
    path("insert/", insert),
]
