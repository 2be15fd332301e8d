"""Measures as published, versioned data (published by clinical/services/instruments.py, read through
clinical.selectors): the built-in ones loaded like the exercise catalog, a changed definition a new version that old
assessments do not follow, and a practice's own measure (reverse-scored items, a subscale, a risk rule) published by
the admin through the API, scheduled, answered in the app and scored as worked by hand. The admin's writes
(instruments/, instruments/{code}/versions/): each rule of a definition refused with 400 naming where, and nothing
written; a code taken, an unchanged definition, 409; a new version of a practice's measure and of the CSI-4 (its
reliable-change parameters from a source the practice holds), which a later release of the definitions file still
supersedes; the versions read by staff and the admin."""

import copy
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, transaction
from django.utils import timezone

from clinical import instruments
from clinical.models import Assessment, AuditEvent, Instrument, InstrumentVersion, SafetyAlert
from clinical.services import instruments as published
from clinical.services import measures as measure_services
from kernel.errors import InvalidInput
from tests.clinical.test_instrument_engine import closeness
from tests.factories.scenes import answers_for
from tests.helpers import assert_problem, days_ago, earlier_today, error_fields

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


def publish(admin_api, definition, **headers):
    return admin_api.post(INSTRUMENTS, definition, format="json", **headers)


def publish_version(admin_api, definition, code=None, **headers):
    return admin_api.post(f"{INSTRUMENTS}{code or definition['code']}/versions/", definition, format="json", **headers)


def test_a_practice_measure_is_scheduled_answered_in_the_app_and_scored_as_worked_by_hand(
    api, admin_api, as_a, as_b, care, admin_user
):
    response = publish(admin_api, closeness())
    assert response.status_code == 201, response.content
    measure = Instrument.objects.get(code="closeness")
    assert (measure.author_id, measure.current.published_by_id) == (admin_user.pk, admin_user.pk)
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
    first = answer([3, 1, 2, 0], earlier_today(minutes=30))
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


# ---------------------------------------------------------------- the admin's writes (instruments/)


def instrument_events():
    return list(
        AuditEvent.objects.filter(object_type="instrument").order_by("id").values_list("action", "actor_id", "detail")
    )


def test_an_admin_publishes_a_measure_as_written_and_the_publication_is_audited(admin_api, admin_user, api):
    definition = closeness()
    response = publish(admin_api, definition, HTTP_IDEMPOTENCY_KEY="closeness-1")
    assert response.status_code == 201, response.content
    answer = response.json()
    assert (answer["code"], answer["version"], answer["min_total"], answer["max_total"]) == ("closeness", 1, 0, 12)
    assert (answer["direction"], answer["cutoff"], answer["reliable_change_threshold"]) == ("higher_is_better", 6, 3)
    assert [(i["number"], i["key"], i["reverse"]) for i in answer["items"]] == [
        (1, "a", False),
        (2, "b", True),
        (3, "c", False),
        (4, "d", True),
    ]
    # published as it was written: nothing added (no `reverse: false`, no `source`), whole numbers kept whole
    version = Instrument.objects.select_related("current").get(code="closeness").current
    assert version.definition == definition
    assert version.content_hash == instruments.content_hash(definition)
    assert instrument_events() == [("create", admin_user.pk, {"version": 1})]
    # the same request again is the first answer, replayed; nothing new
    again = publish(admin_api, definition, HTTP_IDEMPOTENCY_KEY="closeness-1")
    assert (again.status_code, again.json(), again["Idempotent-Replayed"]) == (201, answer, "true")
    assert InstrumentVersion.objects.filter(instrument__code="closeness").count() == 1
    # the admin now reads the measures too, as staff do
    assert admin_api.get(f"{INSTRUMENTS}closeness/").json() == answer
    assert [m["code"] for m in admin_api.get(INSTRUMENTS).json()["results"]] == ["phq9", "gad7", "csi4", "closeness"]
    assert api.get(f"{INSTRUMENTS}closeness/").json() == answer


def _without(key):
    return lambda d: d["reliable_change"].pop(key)


RULES = [
    # unique item keys
    ("a key used twice", lambda d: d["items"].append(dict(d["items"][0])), "items.4.key"),
    # option values: whole numbers from 0 to 100 (the schema says so), unique within the item (the engine)
    (
        "an option above 100",
        lambda d: d["items"][0].update(options=[*d["items"][0]["options"], {"value": 101, "label": "More"}]),
        "items.0.options.4.value",
    ),
    (
        "an option value twice",
        lambda d: d["items"][0].update(options=[*d["items"][0]["options"], {"value": 2, "label": "Again"}]),
        "items.0.options.4.value",
    ),
    # bands cover the range of the total (0 to 12) without gap or overlap
    ("a gap between bands", lambda d: d["bands"][1].update(low=7), "bands"),
    ("overlapping bands", lambda d: d["bands"][1].update(low=5), "bands"),
    ("bands short of the range", lambda d: d["bands"][1].update(high=11), "bands"),
    ("bands beyond the range", lambda d: d["bands"][1].update(high=13), "bands"),
    # a citation for any reliable-change parameter; points, or sd and reliability
    ("points without a citation", _without("citation"), "reliable_change.citation"),
    (
        "sd and reliability without a citation",
        lambda d: d.update(reliable_change={"sd": 4, "reliability": 0.9}),
        "reliable_change.citation",
    ),
    ("an empty citation", lambda d: d["reliable_change"].update(citation="  "), "reliable_change.citation"),
    ("sd without reliability", lambda d: d.update(reliable_change={"sd": 4, "citation": "x"}), "reliable_change"),
    ("points and sd", lambda d: d["reliable_change"].update(sd=4, reliability=0.9), "reliable_change"),
    ("a citation alone", lambda d: d.update(reliable_change={"citation": "x"}), "reliable_change"),
    (
        "a reliability of 1",
        lambda d: d.update(reliable_change={"sd": 4, "reliability": 1, "citation": "x"}),
        "reliable_change.reliability",
    ),
    ("points beyond the range", lambda d: d["reliable_change"].update(points=13), "reliable_change.points"),
    # the cut-off on the side the direction says, inside the range
    ("a cut-off on the wrong side", lambda d: d.update(caseness={"at_or_above": 6, "source": "x"}), "caseness"),
    ("a cut-off outside the range", lambda d: d.update(caseness={"below": 40, "source": "x"}), "caseness"),
    # subscales and risk rules name items of the measure
    ("a subscale of an unknown item", lambda d: d["subscales"][0]["items"].append("z"), "subscales.0.items"),
    ("a risk rule on an unknown item", lambda d: d["risk_rules"][0].update(item="z"), "risk_rules.0.item"),
    (
        "a risk rule at the lowest option",
        lambda d: d["risk_rules"][0].update(at_or_above=0),
        "risk_rules.0.at_or_above",
    ),
    ("a risk rule naming more", lambda d: d["risk_rules"][0].update(detail="{name}"), "risk_rules.0.detail"),
    ("a code not a code", lambda d: d.update(code="Closeness!"), "code"),
    ("no items", lambda d: d.update(items=[]), "items"),
]


@pytest.mark.parametrize(("change", "where"), [pytest.param(c, w, id=name) for name, c, w in RULES])
def test_a_definition_breaking_a_rule_is_refused_naming_where_and_nothing_is_published(admin_api, change, where):
    definition = closeness()
    change(definition)
    versions = InstrumentVersion.objects.count()

    response = publish(admin_api, definition)

    assert_problem(response, 400, "invalid")
    assert where in error_fields(response), response.content
    assert not Instrument.objects.filter(code=definition["code"]).exists()
    assert InstrumentVersion.objects.count() == versions
    assert instrument_events() == []


@pytest.mark.parametrize(("change", "where"), [pytest.param(c, w, id=name) for name, c, w in RULES])
def test_a_new_version_breaking_a_rule_is_refused_and_the_current_one_stays(admin_api, change, where):
    assert publish(admin_api, closeness()).status_code == 201
    definition = closeness()
    change(definition)

    response = publish_version(admin_api, definition, code="closeness")

    assert_problem(response, 400, "invalid")
    assert where in error_fields(response), response.content
    assert list(InstrumentVersion.objects.filter(instrument__code="closeness").values_list("number", flat=True)) == [1]
    assert [action for action, _, _ in instrument_events()] == ["create"]


def test_a_code_already_taken_is_409_and_changes_nothing(admin_api, monkeypatch):
    assert publish(admin_api, closeness()).status_code == 201
    before = list(InstrumentVersion.objects.values_list("id", flat=True))

    again = publish(admin_api, closeness() | {"name": "Another closeness check-in"})
    assert_problem(again, 409, "instrument_code_taken")
    assert_problem(publish(admin_api, closeness() | {"code": "phq9"}), 409, "instrument_code_taken")  # built in
    # a code of the definitions file is the release's, published or not yet
    released = [*instruments.builtin_definitions(), closeness() | {"code": "next_release"}]
    monkeypatch.setattr(instruments, "builtin_definitions", lambda: released)
    assert_problem(publish(admin_api, closeness() | {"code": "next_release"}), 409, "instrument_code_taken")

    assert list(InstrumentVersion.objects.values_list("id", flat=True)) == before
    assert not Instrument.objects.filter(code="next_release").exists()
    assert Instrument.objects.get(code="closeness").current.definition["name"] == "Closeness check-in"
    assert [action for action, _, _ in instrument_events()] == ["create"]


def test_only_the_admin_publishes_and_clients_read_no_versions(call_as, care, supervisor, as_a, api):
    # every scope there is, so that the role alone refuses them
    for user in (care.clinician, supervisor, care.a_user):
        caller = call_as(user)
        assert_problem(publish(caller, closeness()), 403, "role_not_allowed")
        assert_problem(publish_version(caller, instruments.CSI4.definition), 403, "role_not_allowed")
    assert_problem(call_as(care.a_user).get(f"{INSTRUMENTS}csi4/versions/"), 403, "role_not_allowed")
    assert_problem(call_as(care.a_user).get(f"{INSTRUMENTS}csi4/versions/1/"), 403, "role_not_allowed")
    # their own tokens lack the admin scope the writes take; the app's lacks what the versions take
    assert_problem(publish(api, closeness()), 403, "insufficient_scope")
    assert_problem(as_a.get(f"{INSTRUMENTS}csi4/versions/"), 403, "insufficient_scope")
    assert not Instrument.objects.filter(code="closeness").exists()
    assert InstrumentVersion.objects.filter(instrument__code="csi4").count() == 1


def test_a_new_version_scores_new_assessments_and_old_ones_keep_their_band(api, admin_api, admin_user, care):
    assert publish(admin_api, closeness()).status_code == 201
    # a=3, b=2 (reverse: 1), c=3, d=3 (reverse: 0): 7, "close" under version 1 (close from 6)
    first = record(api, care, care.a, instrument="closeness", answers=[3, 2, 3, 3], at=days_ago(10))
    assert (first["total"], first["band"]) == (7, "close")

    wider = closeness()
    wider["bands"] = [{"low": 0, "high": 7, "label": "distant"}, {"low": 8, "high": 12, "label": "close"}]
    response = publish_version(admin_api, wider)
    assert response.status_code == 201, response.content
    v2 = response.json()
    assert (v2["code"], v2["number"], v2["current"], v2["published_by"]) == ("closeness", 2, True, str(admin_user.pk))
    assert v2["definition"] == wider
    assert v2["content_hash"] == instruments.content_hash(wider)
    assert api.get(f"{INSTRUMENTS}closeness/").json()["version"] == 2

    second = record(api, care, care.a, instrument="closeness", answers=[3, 2, 3, 3], at=days_ago(1))
    assert (second["total"], second["band"]) == (7, "distant")
    assert api.get(f"{ASSESSMENTS}{first['id']}/").json()["band"] == "close"  # scored with version 1, kept
    numbers = dict(Assessment.objects.values_list("id", "instrument_version__number"))
    assert [numbers[uuid.UUID(a["id"])] for a in (first, second)] == [1, 2]

    # the same definition again is nothing new: 409, and no version 3
    assert_problem(publish_version(admin_api, wider), 409, "definition_unchanged")
    # a new version keeps the measure's code
    other = wider | {"code": "nearness"}
    assert "code" in error_fields(publish_version(admin_api, other, code="closeness"))
    assert_problem(publish_version(admin_api, wider, code="nearness"), 404, "not_found")
    assert not Instrument.objects.filter(code="nearness").exists()
    assert [(action, detail) for action, _, detail in instrument_events()] == [
        ("create", {"version": 1}),
        ("publish", {"version": 2, "builtin": False}),
    ]

    # the versions, as staff and the admin read them
    for caller in (api, admin_api):
        listed = caller.get(f"{INSTRUMENTS}closeness/versions/").json()["results"]
        assert [(v["number"], v["current"], v["definition"]["bands"]) for v in listed] == [
            (1, False, closeness()["bands"]),
            (2, True, wider["bands"]),
        ]
        assert caller.get(f"{INSTRUMENTS}closeness/versions/1/").json() == listed[0]
    assert_problem(api.get(f"{INSTRUMENTS}closeness/versions/3/"), 404, "not_found")
    assert_problem(api.get(f"{INSTRUMENTS}closeness/versions/99999999999/"), 404, "not_found")
    assert_problem(api.get(f"{INSTRUMENTS}nearness/versions/"), 404, "not_found")
    # a built-in measure's first version: published by the release, no one's
    builtin = api.get(f"{INSTRUMENTS}phq9/versions/1/").json()
    assert (builtin["published_by"], builtin["current"]) == (None, True)
    assert builtin["definition"] == instruments.PHQ9.definition


def test_csi4_reliable_change_from_parameters_a_practice_publishes_until_the_definitions_file_changes(
    api, admin_api, admin_user, care, monkeypatch
):
    baseline = record(api, care, care.a, instrument="csi4", answers=answers_for("csi4", 8), at=days_ago(20))
    before = record(api, care, care.a, instrument="csi4", answers=answers_for("csi4", 14), at=days_ago(10))
    assert (before["change"], before["reliable_change"]) == (6, None)  # no parameters yet (no_csi4_parameters)
    assert api.get(f"{INSTRUMENTS}csi4/").json()["reliable_change_threshold"] is None

    # The practice holds a source for the CSI-4's SD and reliability (illustrative values: SD 4, r 0.9).
    cited = copy.deepcopy(instruments.CSI4.definition)
    cited["reliable_change"] = {"sd": 4, "reliability": 0.9, "citation": "Illustrative figures for this test."}
    response = publish_version(admin_api, cited)
    assert response.status_code == 201, response.content
    assert (response.json()["number"], response.json()["published_by"]) == (2, str(admin_user.pk))
    measure = api.get(f"{INSTRUMENTS}csi4/").json()
    # 1.96 · √2 · SD · √(1 - r) = 1.96 · 1.4142 · 4 · 0.3162 = 3.51 points
    assert (measure["version"], measure["reliable_change_threshold"]) == (2, 3.51)

    # 8 → 14: RC = 6 / √(2 · (4 · √0.1)²) = 6 / 1.789 = 3.35 > 1.96, better where higher is better
    after = record(api, care, care.a, instrument="csi4", answers=answers_for("csi4", 14), at=days_ago(1))
    assert (after["change"], after["reliable_change"]) == (6, "improved")
    assert api.get(f"{ASSESSMENTS}{before['id']}/").json()["reliable_change"] is None  # its version 1 had none
    assert baseline["is_baseline"]
    csi4 = Instrument.objects.get(code="csi4")
    assert csi4.author_id is None  # still a built-in measure
    assert [action for action, _, _ in instrument_events()] == ["publish"]

    # Loading the definitions file again changes nothing: its text was published (version 1)...
    out = StringIO()
    call_command("load_instruments", stdout=out)
    assert out.getvalue().strip() == "measures: 0 new, 0 new versions, 3 unchanged"
    assert Instrument.objects.get(code="csi4").current.number == 2
    # ... until the file itself changes: its new text is a newer version still, published by the release
    released = [copy.deepcopy(d) for d in instruments.builtin_definitions()]
    released[2]["licence"] = "Free for research and clinical use (the release's new wording)."
    monkeypatch.setattr(instruments, "builtin_definitions", lambda: released)
    out = StringIO()
    call_command("load_instruments", stdout=out)
    assert out.getvalue().strip() == "measures: 0 new, 1 new versions, 2 unchanged"
    current = Instrument.objects.select_related("current").get(code="csi4").current
    assert (current.number, current.published_by_id, current.definition) == (3, None, released[2])
    assert api.get(f"{INSTRUMENTS}csi4/").json()["reliable_change_threshold"] is None
