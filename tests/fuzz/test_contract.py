"""Contract fuzzing (issue 7): every operation of openapi.yaml, as each role, with every schemathesis check.

Bounded for `make test` (FUZZ_MAX_EXAMPLES examples per operation and phase, default in runner.py); `make fuzz`
runs the same tests with many more. The engine calls the app in worker threads with their own connections, so
the practice is committed (`transaction=True`) and flushed afterwards.
"""

import json

import pytest
from django.core.handlers.wsgi import WSGIHandler

from tests.factories import issue_token

from .practice import ROLE_SCOPES, seed_practice

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("role", list(ROLE_SCOPES))
def test_every_operation_keeps_the_contract(role, record_property):
    # Imported here, not at collection: schemathesis and hypothesis take a while to import, and only the worker
    # that runs these tests needs them.
    from . import runner

    callers = seed_practice()
    scopes = ROLE_SCOPES[role]
    token = issue_token(callers[role], scopes)

    report = runner.run(app=WSGIHandler(), caller=role, token=token, scopes=scopes)
    record_property("fuzz_report", report.table())
    runner.write(report)

    assert not report.errors, "\n".join(report.errors)
    assert sorted(report.operations) == sorted(runner.operations(runner.OPENAPI))
    assert not report.untested(), report.untested()
    assert not report.failures, f"{len(report.failures)} distinct failures:\n\n" + "\n\n".join(
        str(failure) for failure in report.failures.values()
    )


BROKEN = {
    "openapi": "3.0.3",
    "info": {"title": "a view that fails", "version": "1"},
    "paths": {
        "/api/v1/broken/": {
            "get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {}}}}}}
        }
    },
}


@pytest.mark.urls("tests.api.crash_urls")
def test_the_fuzzer_reports_what_it_finds(tmp_path):
    """The harness is not blind: a view that raises is reported as a server error and an undocumented status."""
    from . import runner

    openapi = tmp_path / "openapi.json"
    openapi.write_text(json.dumps(BROKEN))

    report = runner.run(app=WSGIHandler(), caller="anyone", token="none", scopes=[], examples=1, openapi=openapi)

    found = {(failure.operation, failure.check) for failure in report.failures.values()}
    assert ("GET /api/v1/broken/", "not_a_server_error") in found
    assert ("GET /api/v1/broken/", "status_code_conformance") in found
