"""The application's clock as selectors read it: `timezone.now()` (which tests and the examples' walk move with
time-machine), except while a list statement is compiled once per process (api/viewsets.py `CompiledList`): then a
stand-in moment, which the compiled statement maps back to each request's `timezone.now()`. A selector that reads
`timezone.now()` itself would have the moment of compiling frozen into the statement; `CompiledList` refuses such a
statement and the list takes the ORM path."""

import contextlib
import contextvars

from django.utils import timezone

_stand_in = contextvars.ContextVar("clock_stand_in", default=None)


def now():
    moment = _stand_in.get()
    return timezone.now() if moment is None else moment


@contextlib.contextmanager
def standing_in(moment):
    """`now()` is `moment` inside the block, in this thread (or task) only."""
    token = _stand_in.set(moment)
    try:
        yield
    finally:
        _stand_in.reset(token)
