"""The event catalog: every kind of event the API emits, versioned. Served at GET /api/v1/event-types/ and
described in docs/events.md.

An event carries its id, type, version, when it happened, the practice's sequence number and the ids of what it
is about — never names, answers, note text or scores. `about` lists those ids; `scope` says which of them decides
who may receive the event (a case: its clinician and their supervisor; a client: their clinicians; a webhook: the
practice's admins). A change to what an event carries is a new version.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    description: str
    about: tuple[str, ...]
    scope: str  # the id in `about` that decides who may see the event

    @property
    def category(self) -> str:
        return self.name.split(".")[0]


CATALOG = [
    EventType("case.opened", 1, "A case was opened for a client or a couple.", ("case",), "case"),
    EventType(
        "case.closed", 1, "A case was closed; its homework and self-report schedules stopped.", ("case",), "case"
    ),
    EventType("assignment.created", 1, "Homework was assigned on a case.", ("assignment", "case"), "case"),
    EventType(
        "assignment.completed",
        1,
        "Homework reached its target: every assignee's completions are in.",
        ("assignment", "case"),
        "case",
    ),
    EventType(
        "assignment.overdue",
        1,
        "A period of homework (its day, its week, or a one-off's due date) ended with an assignee behind: once per "
        "assignment and period, noticed within 15 minutes, for periods that ended in the last 7 days.",
        ("assignment", "case"),
        "case",
    ),
    EventType(
        "submission.created",
        1,
        "A client submitted a completion of their homework.",
        ("submission", "assignment", "case", "client"),
        "case",
    ),
    EventType(
        "submission.amended",
        1,
        "A client corrected a submission: `submission` is the new revision, `amends` the one it replaces.",
        ("submission", "amends", "assignment", "case", "client"),
        "case",
    ),
    EventType(
        "submission.reviewed",
        1,
        "The clinician reviewed a submission with feedback for the client.",
        ("submission", "assignment", "case", "client"),
        "case",
    ),
    EventType(
        "assessment.recorded",
        1,
        "A measure (PHQ-9, GAD-7, CSI-4) was recorded by the clinician or self-reported by the client.",
        ("assessment", "case", "client"),
        "case",
    ),
    EventType(
        "assessment.reliable_deterioration",
        1,
        "A recorded measure changed for the worse by more than its reliable-change threshold since the baseline.",
        ("assessment", "case", "client"),
        "case",
    ),
    # Version 2 names the alert, not what raised it (an assessment, or a session's ratings: the alert says which).
    EventType(
        "alert.raised",
        2,
        "A safety alert was raised (a PHQ-9 with item 9 above 0, or a split or low alliance in session ratings); "
        "look at it at once.",
        ("alert", "case", "client"),
        "case",
    ),
    EventType("alert.acknowledged", 1, "A safety alert was acknowledged.", ("alert", "case", "client"), "case"),
    EventType("note.signed", 1, "A progress note was signed by its author.", ("note", "case"), "case"),
    EventType(
        "note.awaiting_cosign",
        1,
        "A signed note needs the author's supervisor's co-signature.",
        ("note", "case"),
        "case",
    ),
    EventType("note.cosigned", 1, "A supervisor co-signed a note.", ("note", "case"), "case"),
    EventType(
        "webhook.disabled",
        1,
        "A webhook subscription was disabled after its deliveries failed for over a day; for the practice's admins.",
        ("webhook",),
        "webhook",
    ),
    EventType(
        "invitation.accepted",
        1,
        "A client accepted their invitation and has an app login now.",
        ("client",),
        "client",
    ),
]
EVENT_TYPES = {event_type.name: event_type for event_type in CATALOG}
