"""The API docs load nothing from another origin, and the schema is not generated again for every request.

Whether both pages really render every operation is checked in a real browser by `make docs-check`
(tools/docs_check.py; it needs Debian's chromium).
"""

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import pytest
import yaml
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from api.docs import SchemaView
from tools.schema import SCHEMA_FILE

PAGES = ["/api/docs/", "/api/redoc/", "/api/docs/oauth2-redirect.html"]
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)\\]+""")
# Where a stylesheet or script would load something from another origin: CSS url() and @import, and in scripts
# also an element's `src` (a link's `href` is only followed when clicked: ReDoc links to its makers).
LOADED_FROM_CSS = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])(https?:)?//""")
LOADED_FROM_JS = re.compile(r"""(?:\bsrc\s*[:=]\s*["']|url\(\s*["']?|@import\s+["'])(https?:)?//""")


class References(HTMLParser):
    """Every URL an HTML page makes the browser load: scripts, stylesheets, icons, images, preconnects."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) and not (tag == "a" and name == "href"):
                self.urls.append(attrs[name])


def referenced(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize("page", PAGES)
def test_docs_pages_and_everything_they_load_are_served_here(db, page):
    browser = Client()
    response = browser.get(page)
    assert response.status_code == 200
    html = response.content.decode()

    # No absolute URL anywhere in the page, other than this server's own (e.g. Swagger UI's OAuth redirect).
    foreign = [
        u for u in ABSOLUTE_URL.findall(html) if urlparse(u if "//" in u[:8] else "http:" + u).netloc != "testserver"
    ]
    assert foreign == [], foreign

    for url in referenced(html):
        assert not urlparse(url).netloc or urlparse(url).netloc == "testserver", url
        asset = browser.get(urljoin(page, url))
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        text = body.decode("utf-8", "replace")
        if url.endswith(".css"):
            assert not LOADED_FROM_CSS.search(text), url
        else:
            assert not LOADED_FROM_JS.search(text), (url, LOADED_FROM_JS.search(text))


def test_redoc_uses_no_font_service_and_system_fonts(db):
    html = Client().get("/api/redoc/").content.decode()

    assert "fonts.googleapis.com" not in html
    assert "fonts.gstatic.com" not in html
    assert '"fontFamily": "system-ui' in html


def test_redocs_bundle_draws_no_cdn_image(db):
    served = Client().get("/api/redoc/redoc.standalone.js")

    assert served.status_code == 200
    assert b"cdn.redoc.ly" not in served.content
    assert b"Redoc" in served.content
    assert Client().get("/api/redoc/redoc.standalone.js", HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 304


def test_swagger_ui_asks_no_outside_validator(db):
    html = Client().get("/api/docs/").content.decode()
    assert '"validatorUrl": null' in html


@pytest.fixture
def schema_generations(monkeypatch):
    """How many times the schema is generated: SchemaGenerator.get_schema, counted and called as usual."""
    calls = []
    original = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    monkeypatch.setattr(SchemaView, "rendered", {})  # as in a fresh process
    return calls


def test_the_schema_is_generated_once_per_process_and_format(db, schema_generations):
    browser = Client()

    yaml_answers = [browser.get("/api/schema/") for _ in range(3)]
    json_answers = [browser.get("/api/schema/", HTTP_ACCEPT="application/json") for _ in range(3)]

    assert len(schema_generations) == 2  # once for YAML, once for JSON
    assert {a.status_code for a in yaml_answers + json_answers} == {200}
    assert len({a.content for a in yaml_answers}) == 1
    assert len({a.content for a in json_answers}) == 1
    assert yaml_answers[0]["Content-Type"] == "application/vnd.oai.openapi; charset=utf-8"
    assert json_answers[0]["Content-Type"] == "application/json"
    # What is served is the committed contract (which a test holds to the code).
    assert yaml.safe_load(yaml_answers[0].content) == yaml.safe_load(SCHEMA_FILE.read_text())
    assert json_answers[0].json() == yaml.safe_load(SCHEMA_FILE.read_text())
