import base64
import io
from datetime import UTC, timedelta

import orjson
import segno
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


def _default(value):
    # Decimals, lazy translation strings and the like: their text form is the JSON one.
    return str(value)


class JSONRenderer(BaseRenderer):
    """Compact JSON through orjson (several times faster than the standard library on large lists)."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_default)


def canonical_json(data) -> str:
    """`data` as one canonical text (keys sorted at every level, no spaces, UTF-8), in one pass: a document that is
    kept and digested as it was sent (a release of a record)."""
    return orjson.dumps(data, default=_default, option=orjson.OPT_SORT_KEYS).decode()


def _flatten(row: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


class FhirElsewhereRenderer(BaseRenderer):
    """`application/fhir+json` (or `?format=fhir`) asked of an answer whose FHIR form the FHIR API serves (/fhir/r4/,
    the package above this one, which alone builds FHIR): the view answers 303 See Other to it, with no body."""

    media_type = "application/fhir+json"
    format = "fhir"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return b""


class CSVRenderer(BaseRenderer):
    """Reports as CSV: one line per row (and the total row last), nested figures flattened into columns
    (`instruments_phq9_mean_change`)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        import csv
        import io

        rows = list(data.get("rows", []))
        if data.get("total"):
            rows.append(data["total"])
        flat = [_flatten(row) for row in rows]
        columns = list(flat[0]) if flat else []
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buffer.getvalue().encode()


class PNGRenderer(BaseRenderer):
    media_type = "image/png"
    format = "png"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ICalendarRenderer(BaseRenderer):
    """A calendar (RFC 5545) written by the `icalendar` library, from `{"name": ..., "events": [FeedEvent, ...]}`
    (clinical/calendar.py decides what an event says). Times in UTC; an event's UID is stable, so a calendar app
    updates what it has on each refresh."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"
    # How often a subscribing app should look again (RFC 7986 REFRESH-INTERVAL, and Outlook's X-PUBLISHED-TTL).
    refresh = timedelta(hours=1)  # X-PUBLISHED-TTL says the same: PT1H

    def render(self, data, accepted_media_type=None, renderer_context=None):
        from icalendar import Calendar, Event

        calendar = Calendar()
        calendar.add("prodid", "-//Couples Care API//Calendar feed//EN")
        calendar.add("version", "2.0")
        calendar.add("calscale", "GREGORIAN")
        calendar.add("method", "PUBLISH")
        calendar.add("name", data["name"])
        calendar.add("x-wr-calname", data["name"])
        calendar.add("refresh-interval", self.refresh, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
        for item in data["events"]:
            event = Event()
            event.add("uid", item.uid)
            event.add("dtstamp", item.updated_at.astimezone(UTC))
            event.add("last-modified", item.updated_at.astimezone(UTC))
            event.add("sequence", item.sequence)
            event.add("dtstart", item.starts_at.astimezone(UTC))
            event.add("dtend", item.ends_at.astimezone(UTC))
            event.add("summary", item.summary)
            event.add("categories", [item.modality])
            event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
            event.add("transp", "TRANSPARENT" if item.cancelled else "OPAQUE")
            event.add("class", "PRIVATE")
            calendar.add_component(event)
        return calendar.to_ical()


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that `?format=` naming a representation the operation lacks, or naming none, is
    a 406, as an Accept header that matches nothing is: DRF answers the first with 404 (which reads as "no such
    resource") and ignores the second."""

    def select_renderer(self, request, renderers, format_suffix=None):
        param = self.settings.URL_FORMAT_OVERRIDE
        if format_suffix is None and param and param in request.query_params and not request.query_params[param]:
            self.filter_renderers(renderers, "")  # raises, naming the formats on offer
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        matching = [renderer for renderer in renderers if renderer.format == format]
        if not matching:
            offered = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise NotAcceptable(f"No {format!r} representation here; format may be: {offered}.")
        return matching


def qr_code_data_uri(text: str) -> str:
    """`text` as a QR code, a PNG in a `data:` URI: a page or an app shows it with `<img src="...">`, and the secret it
    may hold travels only in the answer that carries it (never at an address of its own, in logs or caches)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=6, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
