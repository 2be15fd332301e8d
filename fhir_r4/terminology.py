"""The codes the FHIR R4 API writes: how each of our states becomes a code of the element's required value set, the
external code systems we use (LOINC, HL7's), and the namespace of our own.

The R4 models (fhir.resources) check the shape of a resource, not its codes: tests/fhir/value_sets.py holds the
standard's required value sets, and a test checks every coded element the API writes against them.
"""

from django.conf import settings

LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
GOAL_PRIORITY = "http://terminology.hl7.org/CodeSystem/goal-priority"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ISSUE_TYPE = "http://hl7.org/fhir/issue-type"

# Measure totals with a LOINC code: the measure's total score (the Observation's code).
LOINC_TOTALS = {
    "phq9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "gad7": ("69737-5", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
}


def system(name: str) -> str:
    """Our own code system or identifier namespace `name` (FHIR_SYSTEM_BASE + name)."""
    return f"{settings.FHIR_SYSTEM_BASE}{name}"


# ---------------------------------------------------------------- our states → the standard's codes

# Case.status → EpisodeOfCare.status (required: episode-of-care-status)
EPISODE_STATUS = {"open": "active", "paused": "onhold", "closed": "finished"}
# Case.status → CarePlan.status (required: request-status)
CARE_PLAN_STATUS = {"open": "active", "paused": "on-hold", "closed": "completed"}
# TreatmentGoal.lifecycle_status → Goal.lifecycleStatus (required: goal-status); ours are FHIR's, underscored
GOAL_LIFECYCLE = {
    "proposed": "proposed",
    "active": "active",
    "on_hold": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
    "entered_in_error": "entered-in-error",
}
# TreatmentGoal.achievement_status → Goal.achievementStatus (preferred: goal-achievement)
GOAL_ACHIEVEMENT_CODES = {
    "in_progress": "in-progress",
    "improving": "improving",
    "worsening": "worsening",
    "no_change": "no-change",
    "achieved": "achieved",
    "not_achieved": "not-achieved",
}
GOAL_PRIORITY_CODES = {"high": "high-priority", "medium": "medium-priority", "low": "low-priority"}
# HomeworkAssignment.status → Task.status (required: task-status)
TASK_STATUS = {"active": "in-progress", "completed": "completed", "cancelled": "cancelled"}
# Session.status → Encounter.status (required: encounter-status)
ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "attended": "finished",
    "cancelled": "cancelled",
    "late_cancelled": "cancelled",
    "no_show": "cancelled",
}
# Session.modality → Encounter.class (extensible: v3 ActEncounterCode)
ENCOUNTER_CLASS = {
    "in_person": ("AMB", "ambulatory"),
    "video": ("VR", "virtual"),
    "phone": ("VR", "virtual"),
}
# An exercise's response-field type → Questionnaire.item.type (required: item-type)
ITEM_TYPE = {
    "text": "string",
    "long_text": "text",
    "boolean": "boolean",
    "date": "date",
    "scale": "integer",
    "single_choice": "choice",
    "multi_choice": "choice",
}

# The codes of the external code systems we write, with their displays: a test holds every Coding to them.
KNOWN_CODES = {
    LOINC: dict(LOINC_TOTALS.values()),
    OBSERVATION_CATEGORY: {"survey": "Survey"},
    GOAL_ACHIEVEMENT: {
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
    GOAL_PRIORITY: {
        "high-priority": "High Priority",
        "medium-priority": "Medium Priority",
        "low-priority": "Low Priority",
    },
    ACT_CODE: {"AMB": "ambulatory", "VR": "virtual"},
}
