"""The contract and its two readers (Swagger UI at /api/docs/, ReDoc at /api/redoc/), served by this process alone:
no CDN, no font service, and the schema generated once per process rather than on every request.

Measured (2 shared cores): generating /api/schema/ took about 0.8 s in a fresh worker and 0.1 to 0.35 s in a warm
one, on every request; Swagger UI fetches it only once its 1.4 MB bundle has run, so a headless browser that looked
when the network first went idle still saw "Loading". Served from memory it takes milliseconds.
"""

import hashlib

from django.contrib.staticfiles import finders
from django.http import HttpResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.views import View
from drf_spectacular.plumbing import set_query_parameters
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

SIDECAR = "drf_spectacular_sidecar/redoc/bundles/"
# ReDoc's bundle draws the Redocly logo in its side menu from a CDN. An empty SVG in its place: nothing loads.
REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
EMPTY_SVG = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


class SchemaView(SpectacularAPIView):
    """/api/schema/ (YAML, or JSON by `Accept` or `?format=json`): rendered once per process, language, version and
    media type, then served from memory. Safe because the schema is public (SERVE_PUBLIC) and depends on the code
    alone, which a process does not change while it runs."""

    rendered: dict[tuple, tuple[bytes, str, str]] = {}

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, translation.get_language(), request.accepted_media_type)
        cached = self.rendered.get(key)
        if cached is None:
            response = super()._get_schema_response(request)
            renderer = request.accepted_renderer
            content = renderer.render(response.data, request.accepted_media_type, self.get_renderer_context())
            if isinstance(content, str):
                content = content.encode(renderer.charset or "utf-8")
            content_type = request.accepted_media_type
            if renderer.charset and "charset" not in content_type:
                content_type = f"{content_type}; charset={renderer.charset}"
            cached = self.rendered[key] = (content, content_type, response["Content-Disposition"])
        content, content_type, disposition = cached
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})


class SwaggerView(SpectacularSwaggerView):
    """/api/docs/: the page preloads the schema as JSON (which Swagger UI parses faster than YAML) while Swagger UI's
    script loads, instead of asking for it only once that script has run."""

    template_name = "api/swagger_ui.html"

    def _get_schema_url(self, request):
        return set_query_parameters(super()._get_schema_url(request), format="json")


class RedocView(SpectacularRedocView):
    """/api/redoc/: our template (no Google Fonts; system fonts through REDOC_UI_SETTINGS) and the bundle below."""

    template_name = "api/redoc.html"

    def _redoc_standalone(self):
        return reverse("redoc-bundle")


class RedocBundleView(View):
    """ReDoc's standalone bundle from drf-spectacular-sidecar, with its one CDN image replaced."""

    bundle: bytes | None = None
    etag = ""

    @classmethod
    def load(cls) -> bytes:
        if cls.bundle is None:
            with open(finders.find(SIDECAR + "redoc.standalone.js"), "rb") as file:
                content = file.read()
            content = content.replace(REDOC_LOGO_URL, EMPTY_SVG)
            # Its source map stays a static file beside the original.
            source_map = static(SIDECAR + "redoc.standalone.js.map").encode()
            content = content.replace(b"sourceMappingURL=redoc.standalone.js.map", b"sourceMappingURL=" + source_map)
            cls.etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
            cls.bundle = content
        return cls.bundle

    def get(self, request):
        content = self.load()
        if request.headers.get("If-None-Match") == self.etag:
            return HttpResponse(status=304, headers={"ETag": self.etag})
        return HttpResponse(
            content,
            content_type="text/javascript; charset=utf-8",
            headers={"ETag": self.etag, "Cache-Control": "public, max-age=3600"},
        )
