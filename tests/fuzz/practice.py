"""A practice for the fuzzer to reach: the demo practice (clinical/services/demo.py) and a little more, written
through the services so that every record is one the API could have made."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from clinical.models import Case, Client
from clinical.services import cases, clients, goals, measures, notes
from clinical.services.demo import seed_demo
from clinical.services.invitations import invitation_create

# The most a token of each role can hold (settings.OAUTH_ROLE_SCOPES, enforced by the token endpoint).
ROLE_SCOPES = settings.OAUTH_ROLE_SCOPES


def seed_practice() -> dict:
    """The demo practice plus: a draft note and an open safety alert on the demo couple's case, a client with a
    pending invitation, and an individual case of the unsupervised clinician (out of everyone else's scope).
    Returns the callers by role."""
    users = seed_demo()
    clinician, other = users["clinician"], users["clinician2"]
    case = Case.objects.filter(clinician=clinician).first()
    alex = Client.objects.get(user=users["alex"])
    notes.note_create(
        actor=clinician,
        case=case,
        session_date=timezone.localdate(),
        format="dap",
        sections={"data": "Named two feelings each.", "assessment": "Engaged.", "plan": "Daily feeling log."},
        goals_addressed=list(case.goals.all()[:1]),
    )
    measures.assessment_record(
        actor=clinician,
        client=alex,
        case=case,
        instrument="phq9",
        answers=[1, 1, 1, 1, 0, 1, 0, 0, 1],
        administered_at=timezone.now() - timedelta(hours=2),
    )
    invited = clients.client_create(actor=clinician, given_name="Riley", family_name="Chen", pronouns="she/her")
    invitation_create(actor=clinician, client=invited)
    jordan = clients.client_create(actor=other, given_name="Morgan", family_name="Ellis", pronouns="they/them")
    elsewhere = cases.case_open(actor=other, subject_type="individual", client=jordan, presenting_concerns=["trust"])
    goals.goal_create(actor=other, case=elsewhere, domain="communication", title="Name one need a week")
    return {
        "admin": users["admin"],
        "clinician": clinician,
        "supervisor": users["supervisor"],
        "client": users["alex"],
    }
