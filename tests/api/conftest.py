"""Fixtures of the HTTP tests: a couple in care and the partners' app callers, the demo practice."""

import pytest

from clinical.services.demo import seed_demo
from tests.factories.scenes import CoupleInCare
from tests.helpers import HOMEWORK


@pytest.fixture
def care(clinician):
    """Two partners with app logins and a couple case held by `clinician` (tests.factories.scenes)."""
    return CoupleInCare(clinician)


@pytest.fixture
def assignment(care, catalog):
    """Weekly homework for both partners (each submits), started ten days ago."""
    return care.assign(catalog)


@pytest.fixture
def as_a(call_as, care):
    """Partner a's app, with the homework scope."""
    return call_as(care.a_user, HOMEWORK)


@pytest.fixture
def as_b(call_as, care):
    """Partner b's app, with the homework scope."""
    return call_as(care.b_user, HOMEWORK)


@pytest.fixture
def demo(db):
    """The demo practice (`manage.py seed_demo`)."""
    return seed_demo()
