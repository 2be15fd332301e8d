"""openapi-python-client takes the contract without a warning, and its client does a therapist's day (issue 12).

The day (therapist_day.py) runs once per module against a live server holding the demo practice; each step is
one test here, and a step that cannot run because one it needs failed says which.
"""

import pytest
from django.core.management import call_command

from clinical.services.instruments import builtin_publish

from . import therapist_day
from .python_client import generate

# One worker runs the whole module: the day runs once, on one live server (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("generators-python")


@pytest.fixture(scope="module")
def day(python_client, django_db_setup, django_db_blocker):
    """The whole day, run once: the demo practice is committed (the live server's threads have their own
    connections) and the database is flushed afterwards, as for any transactional test."""
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock():
        builtin_publish()  # the built-in measures, which an earlier test's flush may have emptied (tests/conftest.py)
        call_command("load_exercises", verbosity=0)
        call_command("seed_demo", verbosity=0)
        server = LiveServer("localhost")
        try:
            yield therapist_day.run(therapist_day.Day(base_url=server.url))
        finally:
            server.stop()
            call_command("flush", interactive=False, verbosity=0)


@pytest.mark.parametrize("name", list(therapist_day.STEPS))
def test_the_day(name, day):
    outcome = day[name]
    if outcome.blocked_by:
        cause = day[outcome.blocked_by]
        while cause.blocked_by:
            cause = day[cause.blocked_by]
        pytest.fail(f"blocked: {cause.step.name} failed ({type(cause.error).__name__}: {cause.error})")
    if outcome.error:
        raise outcome.error


def test_the_generator_prints_no_warning(python_client):
    """Every warning or error the generator prints fails this test."""
    assert python_client.warnings == [], "\n\n".join(python_client.warnings)


TINY_CONTRACT = """
openapi: 3.0.3
info: {title: tiny, version: "1"}
paths:
  /chart.png:
    get:
      operationId: chart
      responses:
        "200": {description: a chart, content: {image/png: {schema: {type: string, format: binary}}}}
components:
  schemas:
    Levels:
      type: object
      properties: {"-1": {type: string}, "1": {type: string}}
"""


def test_the_warning_check_sees_the_warnings(tmp_path):
    """The check is not blind: the two kinds of problem this contract once had (an image answer, property names that
    collide as Python names) each give a warning it reads."""
    (tmp_path / "openapi.yaml").write_text(TINY_CONTRACT)
    generation = generate(tmp_path, tmp_path / "openapi.yaml")
    assert generation.returncode == 0, generation.output
    assert [warning.splitlines()[0] for warning in generation.warnings] == [
        "WARNING parsing GET /chart.png within default.",
        "Unable to process schema /components/schemas/Levels:",
    ]
    assert "Unsupported content_type image/png" in generation.warnings[0]
    assert "have the same python_name" in generation.warnings[1]
