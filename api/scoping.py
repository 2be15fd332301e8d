"""One way to build a viewset's queryset: from a selector that knows what the caller may reach.

A subclass names its selector (`selector = clinicians_visible_to`) and may shape the result
(`shape_queryset`, for select_related and the like). Neither it nor any class it mixes in may override
`get_queryset` or set `queryset`: that is how an unscoped query would slip in. Anything not in the selector's
result answers 404, so existence never leaks.
"""

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.generics import get_object_or_404  # a malformed id is a 404 as well
from rest_framework.viewsets import GenericViewSet

from .throttling import CountsSurviveFailureMixin


class ScopedViewSet(CountsSurviveFailureMixin, GenericViewSet):
    selector = None
    # The one escape hatch; a reviewer should ask why.
    i_have_checked_this_queryset_is_scoped_by_hand = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Every class the new one inherits from, up to this base: a mixin listed before it in the bases brings
        # its own get_queryset as surely as the class body does.
        for klass in cls.__mro__:
            if klass is ScopedViewSet:
                break
            if klass.__dict__.get("i_have_checked_this_queryset_is_scoped_by_hand"):
                continue
            for name in ("get_queryset", "queryset"):
                if name in klass.__dict__:
                    where = cls.__name__ if klass is cls else f"{cls.__name__} (through {klass.__name__})"
                    raise TypeError(f"{where} defines {name}; scoped viewsets get their queryset from `selector`.")
        if callable(cls.__dict__.get("selector")):
            cls.selector = staticmethod(cls.__dict__["selector"])

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            model = getattr(getattr(self.get_serializer_class(), "Meta", None), "model", None)
            return model.objects.none() if model else None
        if self.selector is None:
            raise TypeError(f"{type(self).__name__} must name a selector")
        return self.shape_queryset(self.selector(user=self.request.user))

    def shape_queryset(self, queryset):
        return queryset

    def get_object(self):
        """The record the path names, found by scope alone: query-string filters narrow lists (a record's own lists
        included, such as a webhook's deliveries), never which record a path names."""
        lookup = self.lookup_url_kwarg or self.lookup_field
        obj = get_object_or_404(self.get_queryset(), **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(self.request, obj)
        return obj


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable reference that accepts only objects the caller may reach; anything else reads as
    'does not exist', whether it exists or not."""

    def __init__(self, selector, **kwargs):
        self.selector = selector
        kwargs.setdefault("pk_field", serializers.UUIDField())
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.selector(user=self.context["request"].user)

    def run_validation(self, data=empty):
        # DRF reads "" as null for relations; the contract says an id (a uuid) or null, so "" is refused.
        if data == "":
            raise serializers.ValidationError(
                "Must be a valid UUID, or null where the field allows it.", code="invalid"
            )
        return super().run_validation(data)
