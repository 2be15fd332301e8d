"""Our records as FHIR R4 resources (JSON): one function per resource kind, given the record and what it refers to.

Pure functions of what they are given: which records a caller may read is decided before (fhir_r4/search.py, through
the selectors), so a resource here never reaches past them. Every coded element takes its code from
fhir_r4/terminology.py. References are relative (`Patient/<id>`); canonical URLs (a Questionnaire's) start at the
server's FHIR base (`base`, ending in a slash).
"""

from datetime import date, datetime

from clinical import instruments
from clinical.models import Case, SubjectType

from . import terminology as t


def instant(value: datetime) -> str:
    return value.isoformat()


def day(value: date) -> str:
    return value.isoformat()


def ref(kind: str, pk) -> dict:
    return {"reference": f"{kind}/{pk}"}


def meta(record) -> dict:
    """Version and last change of a record with Record's columns; of an immutable one, its creation."""
    updated = getattr(record, "updated_at", None) or record.created_at
    return {"versionId": str(getattr(record, "version", 1)), "lastUpdated": instant(updated)}


def period(start: date, end: date | None) -> dict:
    return {"start": day(start), **({"end": day(end)} if end else {})}


def coding(system: str, code: str, display: str | None = None) -> dict:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def case_subject(case: Case) -> dict:
    """Who a case is about: its client (Patient) or its couple (Group)."""
    if case.subject_type == SubjectType.INDIVIDUAL:
        return ref("Patient", case.client_id)
    return ref("Group", case.couple_id)


# ---------------------------------------------------------------- people


def patient(client) -> dict:
    names = [{"use": "official", "family": client.family_name, "given": [client.given_name]}]
    if client.preferred_name:
        names.append({"use": "usual", "given": [client.preferred_name]})
    telecom = [{"system": "email", "value": client.email}] if client.email else []
    if client.phone:
        telecom.append({"system": "phone", "value": client.phone})
    resource = {
        "resourceType": "Patient",
        "id": str(client.pk),
        "meta": meta(client),
        "active": client.status == "active",
        "name": names,
    }
    if telecom:
        resource["telecom"] = telecom
    if client.date_of_birth:
        resource["birthDate"] = day(client.date_of_birth)
    return resource


def group(couple, members) -> dict:
    """A couple: two people, each a member (inactive once the couple has ended)."""
    return {
        "resourceType": "Group",
        "id": str(couple.pk),
        "meta": meta(couple),
        "active": couple.status == "active",
        "type": "person",
        "actual": True,
        "code": {"coding": [coding(t.system("CodeSystem/group-kind"), "couple", "Couple")]},
        "quantity": len(members),
        "member": [
            {"entity": ref("Patient", member.client_id), **({} if member.couple_active else {"inactive": True})}
            for member in sorted(members, key=lambda m: m.position)
        ],
    }


# ---------------------------------------------------------------- care


def episode_of_care(case, partners: list) -> dict:
    """A case. EpisodeOfCare names one patient: a couple case's first partner, with the couple (the case's
    subject) in an extension; the partners are the episode's patients for search (`patient=`)."""
    resource = {
        "resourceType": "EpisodeOfCare",
        "id": str(case.pk),
        "meta": meta(case),
        "status": t.EPISODE_STATUS[case.status],
        "type": [{"coding": [coding(t.system("CodeSystem/case-subject"), case.subject_type)]}],
        "patient": ref("Patient", case.client_id if case.client_id else partners[0]),
        "period": period(case.opened_on, case.closed_on),
    }
    if case.couple_id:
        resource["extension"] = [{"url": t.system("StructureDefinition/couple"), "valueReference": case_subject(case)}]
    return resource


def goal(treatment_goal, case) -> dict:
    resource = {
        "resourceType": "Goal",
        "id": str(treatment_goal.pk),
        "meta": meta(treatment_goal),
        "lifecycleStatus": t.GOAL_LIFECYCLE[treatment_goal.lifecycle_status],
        "category": [{"coding": [coding(t.system("CodeSystem/goal-domain"), treatment_goal.domain)]}],
        "priority": {
            "coding": [
                coding(
                    t.GOAL_PRIORITY,
                    code := t.GOAL_PRIORITY_CODES[treatment_goal.priority],
                    t.KNOWN_CODES[t.GOAL_PRIORITY][code],
                )
            ]
        },
        "description": {"text": treatment_goal.title},
        "subject": case_subject(case),
        "startDate": day(treatment_goal.start_date),
    }
    if treatment_goal.achievement_status:
        code = t.GOAL_ACHIEVEMENT_CODES[treatment_goal.achievement_status]
        resource["achievementStatus"] = {
            "coding": [coding(t.GOAL_ACHIEVEMENT, code, t.KNOWN_CODES[t.GOAL_ACHIEVEMENT][code])]
        }
    if treatment_goal.target_date:
        resource["target"] = [{"dueDate": day(treatment_goal.target_date)}]
    if treatment_goal.description:
        resource["note"] = [{"text": treatment_goal.description}]
    return resource


def care_plan(case, goal_ids, assignment_ids) -> dict:
    """A case's plan: its goals, and its homework as activities (each a Task)."""
    resource = {
        "resourceType": "CarePlan",
        "id": str(case.pk),
        "meta": meta(case),
        "status": t.CARE_PLAN_STATUS[case.status],
        "intent": "plan",
        "title": "Treatment plan",
        "subject": case_subject(case),
        "period": period(case.opened_on, case.closed_on),
    }
    if goal_ids:
        resource["goal"] = [ref("Goal", pk) for pk in goal_ids]
    if assignment_ids:
        resource["activity"] = [{"reference": ref("Task", pk)} for pk in assignment_ids]
    return resource


def task(assignment, case, assignee_ids: list) -> dict:
    """A homework assignment: for one client (Patient) or both partners (the couple's Group); its answer form
    is its exercise version's Questionnaire (`focus`)."""
    version = assignment.exercise_version
    resource = {
        "resourceType": "Task",
        "id": str(assignment.pk),
        "meta": meta(assignment),
        "status": t.TASK_STATUS[assignment.status],
        "intent": "order",
        "code": {"coding": [coding(t.system("CodeSystem/exercise"), version.exercise.slug, version.title)]},
        "description": version.title,
        "focus": ref("Questionnaire", version.pk),
        "for": ref("Patient", assignee_ids[0]) if len(assignee_ids) == 1 else case_subject(case),
        "basedOn": [ref("CarePlan", case.pk)],
        "authoredOn": instant(assignment.created_at),
        "lastModified": instant(assignment.updated_at),
        "executionPeriod": period(assignment.start_date, assignment.due_date),
        "restriction": {"repetitions": assignment.target_count},
        "input": [
            {"type": {"text": "frequency"}, "valueString": assignment.frequency},
            {"type": {"text": "mode"}, "valueString": assignment.mode},
        ],
    }
    if assignment.instructions:
        resource["note"] = [{"text": assignment.instructions}]
    return resource


def encounter(session, case) -> dict:
    """A session: the case's subject, or for an individual session of a couple case the partner seen alone."""
    code, display = t.ENCOUNTER_CLASS[session.modality]
    return {
        "resourceType": "Encounter",
        "id": str(session.pk),
        "meta": meta(session),
        "status": t.ENCOUNTER_STATUS[session.status],
        "class": coding(t.ACT_CODE, code, display),
        "type": [{"coding": [coding(t.system("CodeSystem/session-kind"), session.kind)]}],
        "subject": ref("Patient", session.partner_id) if session.partner_id else case_subject(case),
        "episodeOfCare": [ref("EpisodeOfCare", case.pk)],
        "period": {"start": instant(session.starts_at), "end": instant(session.ends_at)},
    }


# ---------------------------------------------------------------- questionnaires and answers


def _questionnaire(version, base: str, current: bool, title: str, description: str, system: str, code: str) -> dict:
    """What every Questionnaire of ours states: the version's id, canonical URL and number, its title, whether it is
    the current one, and its code in our `system`."""
    return {
        "resourceType": "Questionnaire",
        "id": str(version.pk),
        "meta": {"versionId": str(version.number), "lastUpdated": instant(version.created_at)},
        "url": canonical(base, version.pk),
        "version": str(version.number),
        "title": title,
        "status": "active" if current else "retired",
        "date": instant(version.created_at),
        "description": description,
        "code": [coding(t.system(f"CodeSystem/{system}"), code, title)],
        "subjectType": ["Patient"],
    }


def canonical(base: str, pk) -> str:
    return f"{base}Questionnaire/{pk}"


def measure_questionnaire(version, base: str, *, current: bool) -> dict:
    """A measure's version: its prompt, then one choice item per question, with its options and their values."""
    measure = instruments.measure_of(version)
    resource = {
        **_questionnaire(version, base, current, measure.name, measure.citation, "measure", measure.code),
        "item": [
            {"linkId": "prompt", "type": "display", "text": measure.prompt},
            *(
                {
                    "linkId": item.key,
                    "text": item.text,
                    "type": "choice",
                    "required": True,
                    "answerOption": [
                        {"valueCoding": {"code": str(option.value), "display": option.label}} for option in item.options
                    ],
                }
                for item in measure.items
            ),
        ],
    }
    if measure.licence:
        resource["copyright"] = measure.licence
    return resource


def exercise_questionnaire(version, base: str, *, current: bool) -> dict:
    """An exercise version's answer form: one item per response field."""
    items = []
    for field in version.response_fields:
        item = {
            "linkId": field["key"],
            "text": field["label"],
            "type": t.ITEM_TYPE[field["type"]],
            "required": field.get("required", True),
        }
        if field["type"] == "multi_choice":
            item["repeats"] = True
        if field["type"] in ("single_choice", "multi_choice"):
            item["answerOption"] = [{"valueString": option} for option in field["options"]]
        items.append(item)
    return {
        **_questionnaire(version, base, current, version.title, version.summary, "exercise", version.exercise.slug),
        "item": items,
    }


def assessment_response(assessment, base: str) -> dict:
    measure = instruments.measure_of(assessment.instrument_version)
    items = []
    for item, answer in zip(measure.items, assessment.answers, strict=False):
        label = next((o.label for o in item.options if o.value == answer), None)
        items.append(
            {
                "linkId": item.key,
                "text": item.text,
                "answer": [{"valueCoding": {"code": str(answer), **({"display": label} if label else {})}}],
            }
        )
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(assessment.pk),
        "meta": meta(assessment),
        "questionnaire": canonical(base, assessment.instrument_version_id),
        "status": "completed",
        "subject": ref("Patient", assessment.client_id),
        "authored": instant(assessment.administered_at),
        "item": items,
    }
    if assessment.source == "self_report":
        resource["author"] = ref("Patient", assessment.client_id)
        resource["source"] = ref("Patient", assessment.client_id)
    return resource


def _answer(kind: str, value) -> list[dict]:
    if kind in ("text", "long_text", "single_choice"):
        return [{"valueString": value}]
    if kind == "multi_choice":
        return [{"valueString": option} for option in value]
    if kind == "boolean":
        return [{"valueBoolean": value}]
    if kind == "date":
        return [{"valueDate": value}]
    return [{"valueInteger": value}]  # scale


def submission_response(submission, version, base: str) -> dict:
    """A homework completion: the client's answers to its exercise version's form (an amended one, the revision
    that stands)."""
    responses = submission.responses or {}
    items = []
    for field in version.response_fields:
        value = responses.get(field["key"])
        if value is None or value == [] or value == "":
            continue
        items.append({"linkId": field["key"], "text": field["label"], "answer": _answer(field["type"], value)})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": str(submission.pk),
        "meta": meta(submission),
        "questionnaire": canonical(base, version.pk),
        "status": "amended" if submission.revision > 1 else "completed",
        "subject": ref("Patient", submission.client_id),
        "authored": instant(submission.completed_at),
        "author": ref("Patient", submission.client_id),
        "source": ref("Patient", submission.client_id),
    }
    if items:
        resource["item"] = items
    return resource


def _measure_code(measure) -> dict:
    codings = []
    if measure.code in t.LOINC_TOTALS:
        code, display = t.LOINC_TOTALS[measure.code]
        codings.append(coding(t.LOINC, code, display))
    codings.append(coding(t.system("CodeSystem/measure"), measure.code, measure.name))
    return {"coding": codings, "text": f"{measure.name} total score"}


def assessment_observation(assessment) -> dict:
    """A measure's total (LOINC where the total has a code), with its band and each subscale's total."""
    measure = instruments.measure_of(assessment.instrument_version)
    resource = {
        "resourceType": "Observation",
        "id": str(assessment.pk),
        "meta": meta(assessment),
        "status": "final",
        "category": [{"coding": [coding(t.OBSERVATION_CATEGORY, "survey", "Survey")]}],
        "code": _measure_code(measure),
        "subject": ref("Patient", assessment.client_id),
        "effectiveDateTime": instant(assessment.administered_at),
        "issued": instant(assessment.created_at),
        "valueInteger": assessment.total,
        "interpretation": [{"text": assessment.band}],
        "derivedFrom": [ref("QuestionnaireResponse", assessment.pk)],
    }
    names = {subscale.key: subscale.name for subscale in measure.subscales}
    if assessment.subscales:
        resource["component"] = [
            {
                "code": {
                    "coding": [coding(t.system("CodeSystem/measure-subscale"), f"{measure.code}.{key}", names.get(key))]
                },
                "valueInteger": value,
            }
            for key, value in assessment.subscales.items()
        ]
    return resource


def gas_observation(rating, case) -> dict:
    """A goal attainment scaling rating (-2 to +2) of a goal, by the clinician."""
    return {
        "resourceType": "Observation",
        "id": str(rating.pk),
        "meta": {"versionId": "1", "lastUpdated": instant(rating.created_at)},
        "status": "final",
        "code": {
            "coding": [coding(t.system("CodeSystem/observation"), "gas-rating", "Goal attainment scaling rating")]
        },
        "subject": case_subject(case),
        "focus": [ref("Goal", rating.goal_id)],
        "effectiveDateTime": day(rating.rated_on),
        "issued": instant(rating.created_at),
        "valueInteger": rating.score,
    }
