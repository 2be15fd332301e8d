"""Scenes several test modules set: a couple in care with app logins, its homework and its assessments.

Unlike the factories, `assign` and `record` go through the services (as the API would, audit events included),
because what the tests read back (progress, change against the baseline, alerts) is computed there.
"""

from datetime import timedelta

from django.utils import timezone

from clinical.models import Role, SubjectType
from clinical.services import homework as homework_services
from clinical.services import measures as measure_services
from tests.factories import CaseFactory, ClientFactory, CoupleFactory, UserFactory

EXERCISE = "i-statement-practice"  # text, boolean, single choice (optional), scale 1 to 10
# The highest answer to each item of the standard measures, written out (not read from clinical.instruments).
MAXIMA = {"phq9": [3] * 9, "gad7": [3] * 7, "csi4": [6, 5, 5, 5]}


def answers_for(code, total, item9=0):
    """Answers to `code` adding up to `total`, filled from item 1; for PHQ-9 item 9 (the safety item) is `item9`."""
    maxima = MAXIMA[code]
    out = [0] * len(maxima)
    remaining = total
    slots = range(len(maxima))
    if code == "phq9":
        out[8] = item9
        remaining -= item9
        slots = range(8)
    for i in slots:
        out[i] = min(maxima[i], remaining)
        remaining -= out[i]
    assert remaining == 0, (code, total)
    return out


def link_login(client):
    """A client-role user that is this client's app login."""
    user = UserFactory(role=Role.CLIENT)
    client.user = user
    client.save(update_fields=["user"])
    return user


class CoupleInCare:
    """Two partners with app logins, their couple, and a couple case held by `clinician`; partner `a` is the first."""

    def __init__(self, clinician):
        self.clinician = clinician
        self.a = ClientFactory(primary_clinician=clinician)
        self.b = ClientFactory(primary_clinician=clinician)
        self.a_user = link_login(self.a)
        self.b_user = link_login(self.b)
        self.couple = CoupleFactory(partners=[self.a, self.b])
        self.case = CaseFactory(clinician=clinician, subject_type=SubjectType.COUPLE, couple=self.couple)

    def assign(self, catalog, assignees=None, *, days_ago=10, **kwargs):
        """Homework through the service: weekly, target 4, for both partners (each submits), begun `days_ago`."""
        kwargs = {"frequency": "weekly", "target_count": 4, **kwargs}
        return homework_services.assignment_create(
            actor=self.clinician,
            case=self.case,
            exercise=catalog[kwargs.pop("slug", EXERCISE)],
            assignees=assignees or [self.a, self.b],
            start_date=timezone.localdate() - timedelta(days=days_ago),
            **kwargs,
        )

    def record(self, client, code, total, at, item9=0):
        """An assessment recorded by the clinician through the service (no HTTP)."""
        return measure_services.assessment_record(
            actor=self.clinician,
            client=client,
            case=self.case,
            instrument=code,
            answers=answers_for(code, total, item9),
            administered_at=at,
        )
