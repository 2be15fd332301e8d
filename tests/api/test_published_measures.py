"""Measures as published, versioned data (published by clinical/services/instruments.py, read through
clinical.selectors): the built-in ones loaded like the exercise catalog, a changed definition a new version that old
assessments do not follow, and a practice's own measure (reverse-scored items, a subscale, a risk rule) scheduled,
answered in the app and scored as worked by hand."""

import copy
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, transaction
from django.utils import timezone

from clinical import instruments
from clinical.models import Assessment, Instrument, InstrumentVersion, SafetyAlert
from clinical.services import instruments as published
from clinical.services import measures as measure_services
from kernel.errors import InvalidInput
from tests.clinical.test_instrument_engine import closeness
from tests.factories.scenes import answers_for
from tests.helpers import days_ago

INSTRUMENTS = "/api/v1/instruments/"
ASSESSMENTS = "/api/v1/assessments/"
SCHEDULES = "/api/v1/assessment-schedules/"
DUE = "/api/v1/me/assessments-due/"
pytestmark = pytest.mark.usefixtures("no_csi4_parameters")


def record(api, care, client, *, instrument="phq9", answers, at):
    response = api.post(
        ASSESSMENTS,
        {
            "client": str(client.pk),
            "case": str(care.case.pk),
            "instrument": instrument,
            "answers": answers,
            "administered_at": at.isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_the_built_in_measures_are_published_once_and_loading_them_again_changes_nothing(db):
    out = StringIO()
    call_command("load_instruments", stdout=out)
    assert out.getvalue().strip() == "measures: 0 new, 0 new versions, 3 unchanged"
    for definition in instruments.builtin_definitions():
        instrument = Instrument.objects.select_related("current").get(code=definition["code"])
        assert instrument.author_id is None
        assert instrument.current.number == 1
        assert instrument.current.content_hash == instruments.content_hash(definition)


def test_a_changed_definition_is_a_new_version_and_old_assessments_keep_theirs(api, care):
    baseline = record(api, care, care.a, answers=answers_for("phq9", 12), at=days_ago(20))
    before = record(api, care, care.a, answers=answers_for("phq9", 7), at=days_ago(10))
    assert (before["change"], before["reliable_change"]) == (-5, "none")  # 5 points: under PHQ-9's 6

    stricter = copy.deepcopy(instruments.PHQ9.definition)
    stricter["reliable_change"] = {"points": 5, "citation": "A practice's own audit, 2026 (illustration)."}
    instrument, changed = published.instrument_publish(definition=stricter, builtin=True)
    assert changed
    assert instrument.current.number == 2
    assert api.get(f"{INSTRUMENTS}phq9/").json()["version"] == 2
    # the same definition again makes nothing new; nor does loading the definitions file, whose text was published
    assert published.instrument_publish(definition=stricter, builtin=True)[1] is False
    out = StringIO()
    call_command("load_instruments", stdout=out)
    assert out.getvalue().strip() == "measures: 0 new, 0 new versions, 3 unchanged"
    assert Instrument.objects.get(code="phq9").current.number == 2

    after = record(api, care, care.a, answers=answers_for("phq9", 7), at=days_ago(1))
    assert (after["change"], after["reliable_change"]) == (-5, "improved")  # 5 points: reliable under version 2
    versions = dict(Assessment.objects.values_list("id", "instrument_version__number"))
    assert [versions[uuid.UUID(a["id"])] for a in (baseline, before, after)] == [1, 1, 2]
    assert api.get(f"{ASSESSMENTS}{before['id']}/").json()["reliable_change"] == "none"  # not rescored

    # an earlier baseline entered late: each later assessment is compared again, by its own version's rules
    record(api, care, care.a, answers=answers_for("phq9", 13), at=days_ago(30))
    by_id = {a["id"]: a for a in api.get(ASSESSMENTS, {"client": str(care.a.pk)}).json()["results"]}
    assert (by_id[before["id"]]["change"], by_id[before["id"]]["reliable_change"]) == (-6, "improved")  # 6 ≥ 6
    assert (by_id[after["id"]]["change"], by_id[after["id"]]["reliable_change"]) == (-6, "improved")  # 6 ≥ 5
    assert (by_id[baseline["id"]]["change"], by_id[baseline["id"]]["reliable_change"]) == (-1, "none")  # 1 < 6
    with pytest.raises(ProgrammingError, match="Cannot update or delete rows"), transaction.atomic():
        InstrumentVersion.objects.filter(instrument=instrument).update(number=9)


def test_a_practice_measure_is_scheduled_answered_in_the_app_and_scored_as_worked_by_hand(
    api, as_a, as_b, care, admin_user
):
    measure, _ = published.instrument_publish(definition=closeness(), author=admin_user)
    listed = [m["code"] for m in api.get(INSTRUMENTS).json()["results"]]
    assert listed == ["phq9", "gad7", "csi4", "closeness"]

    response = api.post(
        SCHEDULES,
        {"client": str(care.a.pk), "case": str(care.case.pk), "instrument": "closeness", "frequency": "weekly"},
        format="json",
    )
    assert response.status_code == 201, response.content
    schedule = response.json()["id"]
    due = as_a.get(DUE).json()["results"]
    assert [d["schedule"] for d in due] == [schedule]
    form = due[0]["instrument"]
    assert (form["code"], form["version"], form["min_total"], form["max_total"]) == ("closeness", 1, 0, 12)
    assert [(i["key"], i["reverse"]) for i in form["items"]] == [("a", False), ("b", True), ("c", False), ("d", True)]
    assert form["subscales"] == [{"key": "connection", "name": "Connection", "items": ["a", "b"]}]
    assert as_b.get(DUE).json()["results"] == []

    def answer(values, at):
        response = as_a.post(
            ASSESSMENTS,
            {"schedule": schedule, "instrument": "closeness", "answers": values, "administered_at": at.isoformat()},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content
        return response.json()

    # a=3, b=1 (reverse: 3-1=2), c=2, d=0 (reverse: 3-0=3) → total 10, connection 3+2=5, "close"; the baseline
    first = answer([3, 1, 2, 0], timezone.now() - timedelta(minutes=30))
    assert (first["total"], first["subscales"], first["band"], first["is_baseline"]) == (
        10,
        {"connection": 5},
        "close",
        True,
    )
    # a=0, b=3 (0), c=0, d=3 (0) → total 0, connection 0, "distant"; change -10: reliable (≥ 3), worse (higher is
    # better): deteriorated; and b=3 meets the risk rule
    second = answer([0, 3, 0, 3], timezone.now())
    assert (second["total"], second["subscales"], second["band"]) == (0, {"connection": 0}, "distant")
    assert (second["change"], second["reliable_change"], second["recovered"]) == (-10, "deteriorated", False)
    alert = SafetyAlert.objects.get(assessment_id=second["id"])
    assert (alert.kind, alert.detail, alert.client_id) == ("isolation", "Item b: 3 of 3.", care.a.pk)
    assert Assessment.objects.get(pk=second["id"]).instrument_version_id == measure.current_id


def test_a_practice_measure_cannot_take_a_built_in_code_nor_be_invalid(admin_user):
    taken = closeness() | {"code": "phq9"}
    with pytest.raises(InvalidInput) as caught:
        published.instrument_publish(definition=taken, author=admin_user)
    assert caught.value.errors == {"code": ["Another measure already has this code."]}
    gap = closeness()
    gap["bands"][1]["low"] = 7
    with pytest.raises(InvalidInput) as caught:
        published.instrument_publish(definition=gap, author=admin_user)
    assert list(caught.value.errors) == ["bands"]
    assert not Instrument.objects.filter(code="closeness").exists()


def test_an_unknown_measure_is_refused_naming_the_published_ones(api, care):
    response = api.post(
        ASSESSMENTS,
        {
            "client": str(care.a.pk),
            "case": str(care.case.pk),
            "instrument": "nope",
            "answers": [0],
            "administered_at": days_ago(1).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    errors = {e["field"]: (e["code"], e["message"]) for e in response.json()["errors"]}
    assert errors["instrument"] == ("invalid_choice", '"nope" is not a valid choice.')
    # the service, called directly, names the measures published
    with pytest.raises(InvalidInput) as caught:
        measure_services.assessment_record(
            actor=care.clinician,
            client=care.a,
            case=care.case,
            instrument="nope",
            answers=[0],
            administered_at=days_ago(1),
        )
    assert caught.value.errors == {"instrument": ["One of: phq9, gad7, csi4."]}
