"""The demo practice `make run` serves, so a newcomer can sign in and try every flow at once.

Idempotent: running it again changes nothing but resetting the demo passwords and applications.
"""

import os
from base64 import b32decode
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinical.models import (
    RATING_ITEMS,
    CaseStatus,
    Client,
    ConfidentialityPolicy,
    ConsentKind,
    ConsentMethod,
    CoupleMember,
    GoalDomain,
    GoalLifecycle,
    NoteFormat,
    OAuthApplication,
    Role,
    ScreenResult,
    SubjectType,
    Supervision,
    User,
)

from . import alliance, cases, clients, consents, goals, homework, measures, notes, safety, sessions
from .accounts import supervision_start, user_create
from .mfa import APP_NAME

DEMO_PASSWORD = "demo-pass-123"
DEMO_SPA_REDIRECT = "http://127.0.0.1:8765/callback"
# Jordan Lee (clinician2@demo.test) signs in with an authenticator app whose secret is this (README, "Two-step
# sign-in"): `python -c "import pyotp; print(pyotp.TOTP('MRSW...').now())"` gives the code the sign-in asks for.
DEMO_MFA_ACCOUNT = "clinician2@demo.test"
DEMO_TOTP_SECRET = "MRSW23ZNNJXXEZDBNYWWYZLFFV2G65DQ"

DEMO_ACCOUNTS = [
    ("admin@demo.test", "Dana Admin", Role.ADMIN),
    ("supervisor@demo.test", "Dr. Sofia Reyes", Role.SUPERVISOR),
    ("clinician@demo.test", "Chris Morgan, LMFT", Role.CLINICIAN),
    ("clinician2@demo.test", "Jordan Lee, LPC", Role.CLINICIAN),
    ("alex@demo.test", "Alex", Role.CLIENT),
    ("sam@demo.test", "Sam", Role.CLIENT),
]


def _account(email, display_name, role) -> User:
    user = User.objects.filter(email=email).first() or user_create(email=email, display_name=display_name, role=role)
    user.set_password(DEMO_PASSWORD)
    user.save(update_fields=["password"])
    return user


def _authenticator_app(user: User) -> None:
    """The demo's enrolled clinician: a confirmed authenticator app with the documented secret (no recovery codes)."""
    TOTPDevice.objects.filter(user=user).exclude(name=APP_NAME).delete()
    TOTPDevice.objects.update_or_create(
        user=user,
        name=APP_NAME,
        defaults={
            "key": b32decode(DEMO_TOTP_SECRET).hex(),
            "confirmed": True,
            "last_t": -1,
            "throttling_failure_count": 0,
        },
    )


def _application(client_id: str, **fields) -> OAuthApplication:
    app, _ = OAuthApplication.objects.update_or_create(
        client_id=client_id,
        defaults={"client_type": OAuthApplication.CLIENT_PUBLIC, "client_secret": "", **fields},
    )
    return app


@transaction.atomic
def seed_demo() -> dict[str, User]:
    users = {email.split("@")[0]: _account(email, name, role) for email, name, role in DEMO_ACCOUNTS}
    _authenticator_app(users[DEMO_MFA_ACCOUNT.split("@")[0]])
    if not Supervision.objects.filter(supervisee=users["clinician"], ended_on__isnull=True).exists():
        supervision_start(actor=users["admin"], supervisor=users["supervisor"], supervisee=users["clinician"])

    port = os.environ.get("PORT", "8000")
    _application(
        "demo-cli",
        name="Demo CLI (first-party)",
        authorization_grant_type=OAuthApplication.GRANT_PASSWORD,
        first_party=True,
        redirect_uris="",
    )
    _application(
        "demo-spa",
        name="Demo single-page app",
        authorization_grant_type=OAuthApplication.GRANT_AUTHORIZATION_CODE,
        first_party=False,
        skip_authorization=False,
        redirect_uris=" ".join(
            [
                DEMO_SPA_REDIRECT,
                # Swagger UI's "Authorize" button at /api/docs/, however the docs were opened
                f"http://127.0.0.1:{port}/api/docs/oauth2-redirect.html",
                f"http://localhost:{port}/api/docs/oauth2-redirect.html",
            ]
        ),
        allowed_origins="http://127.0.0.1:8765",
    )
    _couple_in_care(users)
    return users


DEMO_GOALS = [
    {
        "domain": GoalDomain.TRUST_REBUILDING,
        "title": "Rebuild trust through small promises kept",
        "description": "Each partner makes one small, concrete promise a week and keeps it; broken ones are named, "
        "not hidden.",
        "priority": "high",
        "gas_levels": {
            "-2": "No promises made, or promises broken without acknowledgement",
            "-1": "Promises made but mostly not kept",
            "0": "One promise a week kept by each partner",
            "1": "Promises kept and talked about at the weekly check-in",
            "2": "Both partners say they can rely on each other's word again",
        },
    },
    {
        "domain": GoalDomain.COMMUNICATION,
        "title": "Hold a weekly check-in using 'I' statements",
        "description": "Twenty undistracted minutes each week; each partner speaks about their own feelings and "
        "needs, the other reflects back before answering.",
        "priority": "medium",
    },
    {
        "domain": GoalDomain.CONFLICT_RESOLUTION,
        "title": "Repair within a day after an argument",
        "description": "Pause when flooded, come back within 24 hours, each names their part.",
        "priority": "medium",
    },
]


def _client_for(user: User, clinician: User, given_name: str, family_name: str) -> Client:
    existing = Client.objects.filter(user=user).first()
    if existing:
        return existing
    client = clients.client_create(
        actor=clinician,
        given_name=given_name,
        family_name=family_name,
        email=user.email,
        pronouns="they/them" if given_name == "Alex" else "he/him",
    )
    Client.objects.filter(pk=client.pk).update(user=user)
    client.user = user
    return client


def _couple_in_care(users: dict[str, User]) -> None:
    """Alex and Sam, a couple in care with the (supervised) demo clinician: an open case, three goals, and a
    signed note waiting for the supervisor's co-signature."""
    clinician = users["clinician"]
    alex = _client_for(users["alex"], clinician, "Alex", "Rivera")
    sam = _client_for(users["sam"], clinician, "Sam", "Okafor")
    membership = CoupleMember.objects.filter(client=alex, couple_active=True).select_related("couple").first()
    couple = (
        membership.couple
        if membership
        else clients.couple_create(
            actor=clinician,
            partners=[alex, sam],
            relationship_type="married",
            together_since=timezone.localdate().replace(year=timezone.localdate().year - 9),
        )
    )
    intake = timezone.now() - timedelta(days=28)
    for client in (alex, sam):  # signed at intake, on the practice's paper forms
        consents.consent_record(
            actor=clinician, client=client, kind=ConsentKind.TREATMENT, method=ConsentMethod.PAPER, given_at=intake
        )
    consents.consent_give(actor=sam.user, kind=ConsentKind.ELECTRONIC_COMMUNICATION)
    case = couple.cases.filter(status=CaseStatus.OPEN).first() or cases.case_open(
        actor=clinician,
        subject_type=SubjectType.COUPLE,
        couple=couple,
        presenting_concerns=["trust", "communication", "conflict"],
        opened_on=timezone.localdate() - timedelta(days=28),
        confidentiality_policy=ConfidentialityPolicy.NO_SECRETS,
    )
    if not case.safety_screens.exists():  # each partner seen alone in the first week
        for client in (alex, sam):
            safety.safety_screen_record(
                actor=clinician,
                case=case,
                client=client,
                result=ScreenResult.NEGATIVE,
                screened_on=timezone.localdate() - timedelta(days=27),
                notes="Seen alone. No fear of the partner, no threats or violence reported; knows how to reach us.",
            )
    if not case.goals.exists():
        for spec in DEMO_GOALS:
            goal = goals.goal_create(actor=clinician, case=case, start_date=case.opened_on, **spec)
            goals.goal_transition(actor=clinician, goal=goal, to=GoalLifecycle.ACTIVE)
    yesterdays = _sessions(case, clinician, users) if not case.sessions.exists() else None
    if not case.notes.exists():
        note = notes.note_create(
            actor=clinician,
            case=case,
            session=yesterdays,
            session_date=None if yesterdays else timezone.localdate() - timedelta(days=1),
            format=NoteFormat.SOAP,
            sections={
                "subjective": "Both describe a calmer week. Alex felt unheard on Tuesday; Sam noticed and asked "
                "about it the next day.",
                "objective": "Took turns without interrupting for most of the session; one escalation, "
                "self-corrected after a pause.",
                "assessment": "Communication improving. Trust repair is early: promises are being made, and "
                "kept more often than not.",
                "plan": "Continue the weekly check-in. Add reflective listening practice. Each names one small "
                "promise for the coming week.",
            },
            goals_addressed=list(case.goals.all()),
        )
        notes.note_sign(actor=clinician, note=note)
    if not case.assignments.exists():
        _homework(case, clinician, alex, sam)
    if not case.assessments.exists():
        _measures(case, clinician, alex, sam)


# Three weekly joint sessions, attended and rated by both partners (heard, goals, approach, overall): Alex stays on
# board while Sam's ratings fall, a split of 10 and then 11 points that raises a split alliance alert; next week's.
DEMO_RATINGS = [((9, 9, 8, 9), (8, 8, 8, 8)), ((9, 9, 9, 9), (7, 6, 7, 6)), ((9, 9, 9, 9), (7, 6, 6, 6))]


def _sessions(case, clinician, users):
    """The couple's last three sessions (15, 8 and 1 days ago) and next week's; returns yesterday's."""
    held = []
    for days_ago, (alex_items, sam_items) in zip((15, 8, 1), DEMO_RATINGS, strict=True):
        starts = _at(days_ago, hour=18)
        session = sessions.session_create(
            actor=clinician,
            case=case,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
            modality="in_person",
            location="Room 2",
        )
        session = sessions.session_transition(actor=clinician, session=session, to="attended")
        for user, items in ((users["alex"], alex_items), (users["sam"], sam_items)):
            alliance.rating_submit(actor=user, session=session, **dict(zip(RATING_ITEMS, items, strict=True)))
        held.append(session)
    upcoming = _at(-6, hour=18)
    sessions.session_create(
        actor=clinician,
        case=case,
        starts_at=upcoming,
        ends_at=upcoming + timedelta(minutes=50),
        modality="video",
        location="https://video.example/r/alex-sam",
    )
    return held[-1]


# Baseline (when the case opened), a mid-point and a recent follow-up: Alex's depression and anxiety ease, Sam's
# relationship satisfaction moves out of the distressed range.
DEMO_MEASURES = {
    "alex": {
        "phq9": ([2, 2, 1, 2, 1, 2, 1, 1, 0], [1, 2, 1, 2, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 1, 0, 0, 0]),
        "gad7": ([2, 2, 2, 1, 1, 2, 1], [2, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 1, 1]),
        "csi4": ([2, 2, 2, 2], [3, 2, 2, 3], [3, 3, 3, 3]),
    },
    "sam": {
        "phq9": ([1, 1, 1, 1, 1, 1, 0, 1, 0], [1, 1, 1, 1, 1, 0, 0, 1, 0], [1, 1, 0, 1, 1, 1, 0, 0, 0]),
        "gad7": ([1, 2, 2, 1, 1, 1, 1], [1, 1, 2, 1, 1, 1, 1], [1, 1, 2, 1, 1, 1, 1]),
        "csi4": ([3, 3, 3, 3], [3, 3, 4, 3], [4, 4, 3, 4]),
    },
}


def _measures(case, clinician, alex, sam) -> None:
    days_ago = [(timezone.localdate() - case.opened_on).days, 14, 1]
    for name, client in (("alex", alex), ("sam", sam)):
        for code, administrations in DEMO_MEASURES[name].items():
            for answers, ago in zip(administrations, days_ago, strict=True):
                measures.assessment_record(
                    actor=clinician,
                    client=client,
                    case=case,
                    instrument=code,
                    answers=answers,
                    administered_at=_at(ago, hour=17),
                )
        measures.schedule_create(
            actor=clinician,
            client=client,
            case=case,
            instrument="csi4",
            frequency="fortnightly",
            start_date=timezone.localdate(),
        )
    trust = case.goals.filter(gas_levels__isnull=False).first()
    for ago, score in ((21, -1), (7, 0)):
        goals.gas_rating_record(
            actor=clinician, goal=trust, score=score, rated_on=timezone.localdate() - timedelta(days=ago)
        )


def _at(days_ago: int, hour: int = 20):
    moment = timezone.now() - timedelta(days=days_ago)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0)


def _homework(case, clinician, alex, sam) -> None:
    """Two exercises on the couple case, one done together, one each, with a few days of completions."""
    from exercises.models import Exercise
    from exercises.services import catalog_load

    catalog_load()  # idempotent; `make run` has loaded it already

    today = timezone.localdate()
    trust, communication = case.goals.order_by("created_at")[:2]
    check_in = homework.assignment_create(
        actor=clinician,
        case=case,
        exercise=Exercise.objects.get(slug="weekly-relationship-check-in"),
        assignees=[alex, sam],
        mode="joint",
        goals=[communication],
        start_date=today - timedelta(days=14),
        due_date=today + timedelta(days=13),
        instructions="Sunday evenings suit you both; keep it to twenty minutes.",
    )
    appreciation = homework.assignment_create(
        actor=clinician,
        case=case,
        exercise=Exercise.objects.get(slug="daily-appreciation-note"),
        assignees=[alex, sam],
        mode="each",
        goals=[trust],
        start_date=today - timedelta(days=5),
        due_date=today + timedelta(days=1),
        instructions="One line a day is enough. Say it out loud when you can.",
    )
    homework.submission_create(
        actor=alex.user,
        assignment=check_in,
        completed_at=_at(13),
        shared_with_partner=True,
        responses={
            "closeness": 6,
            "went_well": "We both stayed calm talking about the holidays.",
            "wish_for_next_week": "More time without phones.",
        },
    )
    homework.submission_create(
        actor=sam.user,
        assignment=check_in,
        completed_at=_at(6),
        shared_with_partner=True,
        responses={
            "closeness": 8,
            "went_well": "Alex asked how my week was before anything else.",
            "felt_distant": "When work came up I wanted reassurance, not advice.",
        },
    )
    for days_ago, note, mood in [
        (5, "Made coffee without being asked", 4),
        (4, "Listened to my worry", 5),
        (2, "Laughed at my terrible joke", 4),
    ]:
        homework.submission_create(
            actor=alex.user,
            assignment=appreciation,
            completed_at=_at(days_ago),
            shared_with_partner=days_ago != 4,
            responses={"appreciated": note, "shared": True, "mood_after": mood},
        )
    for days_ago, note in [(5, "Texted to check I got home"), (3, "Planned Saturday for us")]:
        homework.submission_create(
            actor=sam.user,
            assignment=appreciation,
            completed_at=_at(days_ago),
            responses={"appreciated": note, "shared": days_ago == 3, "mood_after": 4},
        )
