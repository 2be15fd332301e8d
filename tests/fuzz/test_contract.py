"""Contract fuzzing (issue 7): every operation of openapi.yaml, as each role, with every schemathesis check.

Bounded for `make test` (FUZZ_MAX_EXAMPLES examples per operation and phase, default in runner.py); `make fuzz`
runs the same tests with many more. The engine calls the app in worker threads with their own connections, so
the practice is committed (`transaction=True`) and flushed afterwards.
"""

import json
import socket
from urllib.parse import urlsplit

import pytest
from django.core.handlers.wsgi import WSGIHandler

from tests.factories import issue_token
from tools.examples import RECEIVER_URL

from .practice import ROLE_SCOPES, seed_practice

pytestmark = pytest.mark.django_db(transaction=True)
# What RECEIVER_URL's host resolves to on the internet (example.com, RFC 2606), for machines without DNS.
RECEIVER_ADDRESS = "93.184.215.14"


@pytest.fixture(autouse=True)
def _the_example_receiver_resolves(monkeypatch):
    """The contract's webhook example (api/examples.json) names a receiver on the internet, and the API resolves a
    target before it takes it: schemathesis sends that example as valid data, so the name resolves here as DNS
    would resolve it. No delivery is attempted (no worker runs)."""
    host, real = urlsplit(RECEIVER_URL).hostname, socket.getaddrinfo

    def getaddrinfo(name, port, *args, **kwargs):
        if name == host:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (RECEIVER_ADDRESS, port))]
        return real(name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


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
