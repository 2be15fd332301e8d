import orjson
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
