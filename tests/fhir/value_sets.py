"""What the FHIR R4 models do not check (fhir.resources validates shapes, not codes): the standard's required value
sets (R4 4.0.1) of the coded elements the API writes, the codes of the external systems we use, and a walk over a
resource that reports every coded element outside them."""

REQUIRED = {
    "AdministrativeGender": {"male", "female", "other", "unknown"},
    "Bundle.type": {
        "document",
        "message",
        "transaction",
        "transaction-response",
        "batch",
        "batch-response",
        "history",
        "searchset",
        "collection",
    },
    "Bundle.entry.search.mode": {"match", "include", "outcome"},
    "CapabilityStatement.status": {"draft", "active", "retired", "unknown"},
    "CapabilityStatement.kind": {"instance", "capability", "requirements"},
    "CarePlan.intent": {"proposal", "plan", "order", "option"},
    "CarePlan.status": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "ContactPoint.system": {"phone", "fax", "email", "pager", "url", "sms", "other"},
    "Encounter.status": {
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    "EpisodeOfCare.status": {"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"},
    "Goal.lifecycleStatus": {
        "proposed",
        "planned",
        "accepted",
        "active",
        "on-hold",
        "completed",
        "cancelled",
        "entered-in-error",
        "rejected",
    },
    "Group.type": {"person", "animal", "practitioner", "device", "medication", "substance"},
    "HumanName.use": {"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"},
    "Observation.status": {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
    },
    "OperationOutcome.issue.severity": {"fatal", "error", "warning", "information"},
    "Questionnaire.status": {"draft", "active", "retired", "unknown"},
    "Questionnaire.item.type": {
        "group",
        "display",
        "boolean",
        "decimal",
        "integer",
        "date",
        "dateTime",
        "time",
        "string",
        "text",
        "url",
        "choice",
        "open-choice",
        "attachment",
        "reference",
        "quantity",
    },
    "QuestionnaireResponse.status": {"in-progress", "completed", "amended", "entered-in-error", "stopped"},
    "Task.intent": {
        "unknown",
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
    },
    "Task.status": {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    },
}


# Datatype elements, by where they occur in the resources we write.
WHERE = {
    "HumanName.use": ["Patient.name.use"],
    "ContactPoint.system": ["Patient.telecom.system"],
}

# The codes of external code systems we write, with their displays (LOINC's long common names).
EXTERNAL_CODES = {
    "http://loinc.org": {
        "44261-6": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
        "69737-5": "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
    },
    "http://terminology.hl7.org/CodeSystem/observation-category": {"survey": "Survey"},
    "http://terminology.hl7.org/CodeSystem/goal-achievement": {
        "in-progress": "In Progress",
        "improving": "Improving",
        "worsening": "Worsening",
        "no-change": "No Change",
        "achieved": "Achieved",
        "sustaining": "Sustaining",
        "not-achieved": "Not Achieved",
        "no-progress": "No Progress",
        "not-attainable": "Not Attainable",
    },
    "http://terminology.hl7.org/CodeSystem/goal-priority": {
        "high-priority": "High Priority",
        "medium-priority": "Medium Priority",
        "low-priority": "Low Priority",
    },
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": {"AMB": "ambulatory", "VR": "virtual"},
    "http://terminology.hl7.org/CodeSystem/restful-security-service": {"OAuth": "OAuth"},
}


def _values(node, path: list[str]):
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
    elif not path:
        yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


def _codings(node):
    if isinstance(node, list):
        for item in node:
            yield from _codings(item)
    elif isinstance(node, dict):
        if isinstance(node.get("system"), str) and "code" in node:
            yield node
        for value in node.values():
            yield from _codings(value)


def coded_problems(resource: dict) -> list[str]:
    """Every coded element of `resource` (and of the resources it contains) outside its required value set, and
    every Coding of an external system we use with an unknown code or a wrong display."""
    problems = []
    for element, allowed in REQUIRED.items():
        for where in WHERE.get(element, [element]):
            kind, *path = where.split(".")
            for found in _resources_of(resource, kind):
                problems += [f"{where}: {value!r}" for value in _values(found, path) if value not in allowed]
    for coding in _codings(resource):
        known = EXTERNAL_CODES.get(coding["system"])
        if known is None:
            continue
        if coding["code"] not in known:
            problems.append(f"{coding['system']}: unknown code {coding['code']!r}")
        elif "display" in coding and coding["display"] != known[coding["code"]]:
            problems.append(f"{coding['system']}|{coding['code']}: display {coding['display']!r}")
    return problems


def _resources_of(resource: dict, kind: str):
    if resource.get("resourceType") == kind:
        yield resource
    for entry in resource.get("entry", []):
        yield from _resources_of(entry.get("resource", {}), kind)
