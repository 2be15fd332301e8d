"""Every problem the API answers, in one catalog: its types (`type`; GET one for what it means) and every `code`,
with its status and what it means.

The catalog is the one list: a viewset names the codes its actions raise (`problems = {"create": ["case_closed"]}`,
api/viewsets.py), the contract lists each operation's codes from it (api/schema.py), and tests fail when code
raises a code that is not here, or an operation answers one it does not declare (tests/api/test_problem_codes.py).
"""

from dataclasses import dataclass

from django.http import Http404, JsonResponse
from django.views.decorators.http import require_safe

from .errors import PROBLEM_TYPE_BASE, PROBLEM_TYPES, TYPE_BY_STATUS, ProblemType


@dataclass(frozen=True)
class ProblemCode:
    code: str
    status: int
    meaning: str  # one sentence, for the developer of a client
    type_slug: str = ""  # the status's problem type unless named
    # Any request may meet it, before or around any operation; the contract does not repeat it per operation.
    anywhere: bool = False

    @property
    def type(self) -> ProblemType:
        return PROBLEM_TYPES[self.type_slug] if self.type_slug else TYPE_BY_STATUS[self.status]


P = ProblemCode
CODES = {
    p.code: p
    for p in [
        # -------------------------------------------------------- the request as HTTP
        P("invalid", 400, "The body or the query failed validation; `errors` lists each problem by field."),
        P("malformed_body", 400, "The body could not be parsed as JSON (or as its declared media type).", "malformed"),
        P("nesting_too_deep", 400, "The JSON body nests arrays and objects deeper than `max_depth`.", "malformed"),
        P("malformed_request", 400, "The Content-Length header is not a number."),
        P("not_authenticated", 401, "No access token was sent; obtain one at /o/token/."),
        P("invalid_token", 401, "The access token is invalid, expired or revoked, or its account is deactivated."),
        P("insufficient_scope", 403, "The token lacks a scope this operation needs (`required_scopes` says which)."),
        P("role_not_allowed", 403, "The caller's role may never use this operation."),
        P("permission_denied", 403, "Refused for a reason that is neither scope nor role (e.g. a failed CSRF check)."),
        P("not_found", 404, "No such resource within the caller's reach: it does not exist or is not yours to see."),
        P(
            "method_not_allowed",
            405,
            "The resource does not take this method; `Allow` lists those it takes.",
            anywhere=True,
        ),
        P("not_acceptable", 406, "No representation matches the Accept header or the `format` asked for."),
        P("payload_too_large", 413, "The request body exceeds `max_bytes`; nothing of it was read."),
        P("uri_too_long", 414, "The request target exceeds `max_bytes`; send long input in a body.", anywhere=True),
        P("unsupported_media_type", 415, "The body is not JSON (application/json)."),
        P(
            "header_fields_too_large",
            431,
            "A header field, or all of them together, exceed the limits the problem names.",
            anywhere=True,
        ),
        P("throttled", 429, "Too many requests; retry after `Retry-After` seconds."),
        P("server_error", 500, "An unexpected error; nothing was changed, and the error was logged.", anywhere=True),
        P(
            "database_unavailable",
            503,
            "The database cannot be reached; nothing was changed, retry after `Retry-After`.",
        ),
        # -------------------------------------------------------- versions, preconditions, idempotency
        P("stale_version", 412, "The If-Match ETag is not the current one: fetch the resource again and reapply."),
        P("precondition_required", 428, "This operation needs an If-Match (or Idempotency-Key) header; see `detail`."),
        P("idempotency_key_in_use", 409, "A request with this Idempotency-Key is still running; retry shortly."),
        P("idempotency_key_reused", 422, "This Idempotency-Key was used for another request; use a new key."),
        # -------------------------------------------------------- fallbacks: a status with nothing more specific
        P("conflict", 409, "The resource's state does not allow the change (no more specific code applies)."),
        P("domain_error", 409, "A rule of the practice refused the change (no more specific code applies)."),
        P("not_allowed", 403, "You can see this record but may not change it: it belongs to someone else."),
        P("precondition_failed", 412, "A precondition of the request failed (no more specific code applies)."),
        P("unprocessable", 422, "The request is well formed but cannot be processed (no more specific code applies)."),
        # -------------------------------------------------------- practice administration
        P("supervisor_has_supervisees", 409, "This supervisor still has active supervisions; end them first."),
        P("already_supervised", 409, "The supervisee already has an active supervisor; end that supervision first."),
        P("supervision_ended", 409, "This supervision has already ended."),
        P("not_a_clinician", 403, "Only clinicians and supervisors hold a caseload and open cases."),
        # -------------------------------------------------------- two-factor sign-in (me/mfa/)
        P(
            "mfa_code_invalid",
            400,
            "The code is not a current one of your authenticator app (or an unused recovery code).",
        ),
        P(
            "mfa_already_enrolled",
            409,
            "You already sign in with an authenticator app; remove it first to enrol another.",
        ),
        P("mfa_not_pending", 409, "No enrolment is waiting for its first code; start one with POST me/mfa/."),
        P("mfa_not_enrolled", 409, "You do not sign in with a second factor; there is nothing to change."),
        P(
            "mfa_required",
            409,
            "The practice requires a second factor of staff: it cannot be removed (an admin resets it).",
        ),
        # -------------------------------------------------------- clients, couples, cases, goals
        P("client_has_login", 409, "This client already has an app login; no invitation is needed."),
        P("client_in_active_couple", 409, "A partner is already in an active couple; end that couple first."),
        P(
            "client_has_open_case",
            409,
            "The client is still in care (a case of theirs, alone or as a couple, is open or paused): not erased.",
        ),
        P(
            "client_already_erased",
            409,
            "The client was erased already (once only); `erasure_request` names the erasure and its answer.",
        ),
        P("not_case_clinician", 403, "Only the case's clinician may change it or what it holds."),
        P("case_closed", 409, "The case is closed: it takes no new goals, notes, homework or measures."),
        P("couple_ended", 409, "The couple has ended; a new case needs an active couple."),
        P(
            "case_transition_not_allowed",
            409,
            "The case's status does not allow this step (e.g. resuming a closed case).",
        ),
        P("goal_entered_in_error", 409, "The goal was entered in error and is kept only as a record."),
        P("gas_levels_in_use", 409, "The goal has GAS ratings: its levels can be reworded, not removed."),
        P("transition_not_allowed", 409, "The goal's status does not allow this transition."),
        P("gas_levels_missing", 409, "The goal has no GAS levels to rate against; give it levels first."),
        P("gas_already_rated", 409, "The goal already has a GAS rating on that date."),
        # -------------------------------------------------------- sessions
        P(
            "session_overlap",
            409,
            "The clinician already has a booked session at that time; `conflicting_session` names it.",
        ),
        P("session_not_scheduled", 409, "The session is no longer scheduled (attended, cancelled or a no-show)."),
        P("session_transition_not_allowed", 409, "The session's status does not allow this step; outcomes are final."),
        P("session_not_started", 409, "A session is attended (or missed) only once it has begun."),
        P("not_an_attendee", 403, "Only a client who attended the session rates it."),
        P("session_not_attended", 409, "Only an attended session is rated."),
        P("already_rated", 409, "You already rated this session; `existing_rating` names the rating to change."),
        P("not_rater", 403, "Only the client who gave a rating changes it."),
        P("rating_locked", 409, "A rating can be changed for 24 hours after it was given."),
        P("session_has_note", 409, "You already wrote a note for this session; `existing_note` names it."),
        # -------------------------------------------------------- notes
        P("not_note_author", 403, "Only the note's author may do this."),
        P("not_authors_supervisor", 403, "Only the author's active supervisor may co-sign the note."),
        P("not_author_or_cosigner", 403, "Only the note's author or their supervisor may add an addendum."),
        P("note_not_draft", 409, "The note is signed (or retired) and no longer changes; add an addendum instead."),
        P("note_incomplete", 409, "The note has empty sections (`missing_sections`) and cannot be signed yet."),
        P("cosign_not_needed", 409, "Only a signed note that needs co-signature can be co-signed."),
        P("already_cosigned", 409, "The note is already co-signed."),
        P("note_not_signed", 409, "Addenda are for signed notes; edit a draft directly."),
        P("note_entered_in_error", 409, "The note is already marked entered in error."),
        # -------------------------------------------------------- homework
        P("assignment_not_active", 409, "The assignment is completed or cancelled and no longer changes."),
        P("assignment_cancelled", 409, "The homework was cancelled; it takes no more submissions."),
        P("not_an_assignee", 403, "Only a client the homework was given to may submit it."),
        P("not_a_client", 403, "Only a client in care (a login linked to a client record) may give this consent."),
        P("not_submitter", 403, "Only the client who sent a submission may correct it."),
        P("submission_amended", 409, "This revision was corrected since; act on the latest revision."),
        P("already_reviewed", 409, "The submission was already reviewed."),
        P("not_exercise_author", 403, "Only the clinician who wrote an exercise may revise it."),
        # -------------------------------------------------------- consents and couple safety
        P(
            "consent_missing",
            409,
            "A partner has not consented to treatment (`missing` names each client and kind): couple work waits for "
            "both partners' consent.",
        ),
        P(
            "release_consent_missing",
            409,
            "A client of the case has no release consent in force for this party and purpose (`missing` names each): "
            "a couple's record is released only with both partners' consent.",
        ),
        P("consent_document_missing", 409, "The practice has published no document of this kind to consent to."),
        P("consent_document_version_taken", 409, "A document of this kind already has this version; name a new one."),
        P("consent_document_unchanged", 409, "The text is the current document's own; a new version needs a change."),
        P(
            "conjoint_hold",
            409,
            "Joint work on this couple case is held after a safety screen: no joint homework or joint session until "
            "the clinician records a decision on the hold.",
        ),
        P("hold_decided", 409, "The conjoint hold already has this decision, or is over (`status_now`)."),
        # -------------------------------------------------------- measures and alerts
        P("schedule_required", 403, "Clients report measures against a schedule their clinician set."),
        P("schedule_cancelled", 409, "The assessment schedule was cancelled."),
        P("already_acknowledged", 409, "The safety alert was already acknowledged."),
        P(
            "instrument_code_taken",
            409,
            "A measure (a built-in one or the practice's) already has this code; publish a new version of it instead.",
        ),
        P("definition_unchanged", 409, "The definition is the measure's current version's: nothing new to publish."),
        # -------------------------------------------------------- webhooks
        P("not_staff", 403, "Only staff and the practice admin subscribe to events."),
        P("webhook_target_refused", 400, "The webhook URL is not a public https address; `errors` says why."),
        P("delivery_pending", 409, "The delivery is still being tried; redeliver it once it has succeeded or failed."),
    ]
}
del P

# Codes in a 400 problem's `errors[].code`, beside DRF's own per field (`required`, `null`, `max_length`, ...).
FIELD_CODES = {
    "unknown_parameter": "The operation takes no query parameter of this name; the message lists those it takes.",
    "control_character": "Text holds a control character other than tab and line breaks.",
    "impossible_date": "Not a date on the calendar (e.g. 2025-02-30).",
    "date_out_of_range": "A date before the earliest date taken or too far in the future; the message gives the range.",
    "invalid_cursor": "The pagination cursor is not one this API issued.",
    "future_date": "The date is in the future, where it cannot be.",
}


def codes_of_type(problem_type: ProblemType) -> list[ProblemCode]:
    return [c for c in CODES.values() if c.type == problem_type]


def _code(problem: ProblemCode) -> dict:
    return {
        "code": problem.code,
        "status": problem.status,
        "type": PROBLEM_TYPE_BASE + problem.type.slug,
        "meaning": problem.meaning,
    }


def _field_codes() -> list[dict]:
    return [{"code": code, "meaning": meaning} for code, meaning in FIELD_CODES.items()]


def _describe(problem: ProblemType) -> dict:
    described = {
        "type": PROBLEM_TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "description": problem.description,
        "codes": [_code(c) for c in codes_of_type(problem)],
    }
    if problem.slug == "invalid":
        described["field_codes"] = _field_codes()
    return described


@require_safe
def problem_types(request):
    return JsonResponse(
        {
            "problem_types": [_describe(p) for p in PROBLEM_TYPES.values()],
            "codes": [_code(c) for c in CODES.values()],
            "field_codes": _field_codes(),
        }
    )


@require_safe
def problem_type(request, slug):
    if slug not in PROBLEM_TYPES:
        raise Http404
    return JsonResponse(_describe(PROBLEM_TYPES[slug]))
