"""The scoping base: a subclass cannot swap in its own queryset."""

import pytest

from api.scoping import ScopedViewSet
from clinical.selectors import clinicians_visible_to


def test_a_viewset_cannot_override_get_queryset():
    with pytest.raises(TypeError, match="get_queryset"):

        class Leaky(ScopedViewSet):
            selector = clinicians_visible_to

            def get_queryset(self):
                return super().get_queryset()


def test_a_viewset_cannot_set_a_queryset():
    from clinical.models import User

    with pytest.raises(TypeError, match="queryset"):

        class Leaky(ScopedViewSet):
            queryset = User.objects.all()


def test_out_of_scope_objects_are_404_not_403(call_as, admin_user, supervisor, clinician, other_clinician):
    # The supervisions of another clinician exist, but are not this supervisor's: 404, as if absent.
    from tests.factories import SupervisionFactory

    foreign = SupervisionFactory(supervisee=other_clinician)
    response = call_as(supervisor, ["clinical:read", "admin"]).get(f"/api/v1/supervisions/{foreign.id}/")
    assert response.status_code == 404
    assert str(other_clinician.id) not in response.content.decode()
    assert str(foreign.supervisor_id) not in response.content.decode()


def test_a_mixin_cannot_bring_its_own_get_queryset():
    class Unscoped:
        def get_queryset(self):
            from clinical.models import User

            return User.objects.all()

    with pytest.raises(TypeError, match="through Unscoped"):

        class Leaky(Unscoped, ScopedViewSet):
            selector = clinicians_visible_to


def test_a_mixin_cannot_bring_a_queryset_either():
    from clinical.models import User

    class Unscoped:
        queryset = User.objects.all()

    with pytest.raises(TypeError, match="queryset"):

        class Leaky(Unscoped, ScopedViewSet):
            selector = clinicians_visible_to


def test_the_escape_hatch_is_named_where_the_queryset_is():
    from clinical.models import User

    class CheckedByHand:
        i_have_checked_this_queryset_is_scoped_by_hand = True
        queryset = User.objects.none()

    class Allowed(CheckedByHand, ScopedViewSet):
        selector = clinicians_visible_to

    assert Allowed.queryset.model is User
