"""When a reminder is due, as plain arithmetic on local times (no database).

A reminder of homework is due at its reminder time (the clinician's, or DEFAULT_REMINDER_TIME) on the client's
local day, in their time zone: `datetime.combine` with a `ZoneInfo` gives the UTC instant that local time has on
that very day, so 18:00 in New York is 23:00 UTC in winter and 22:00 UTC after the change to daylight-saving time.
A time that falls in the client's quiet hours waits until they end, the same local day; quiet hours that last past
midnight leave nothing for that day.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_REMINDER_TIME = time(18, 0)


def in_quiet_hours(at: time, start: time | None, end: time | None) -> bool:
    """Whether `at` falls in [start, end) of local time; the span may wrap midnight (22:00 to 07:00)."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


def due_moment(*, day: date, at: time | None, zone: ZoneInfo, quiet_start=None, quiet_end=None) -> datetime | None:
    """The instant the reminder of local `day` is due, or None when quiet hours hold it past the day's end."""
    at = at or DEFAULT_REMINDER_TIME
    if in_quiet_hours(at, quiet_start, quiet_end):
        if quiet_end <= at:  # they end tomorrow
            return None
        at = quiet_end
    return datetime.combine(day, at, tzinfo=zone)


def day_end(*, day: date, zone: ZoneInfo) -> datetime:
    """The first instant of the next local day: a reminder not sent by then is dropped."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def session_period(starts_at: datetime) -> int:
    """A before_each_session reminder's period: the session's start in whole minutes since 1970 (UTC). The reminder
    is made once per session, start and device: a session moved to another time is reminded of again."""
    return int(starts_at.timestamp()) // 60
