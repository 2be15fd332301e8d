"""`make docs-check`: Swagger UI (/api/docs/) and ReDoc (/api/redoc/) in a real headless browser.

Serves the app with gunicorn as `make run` does (run it through `python -m tools.devdb exec --`), opens each page in
Debian's chromium through Playwright, and fails unless, within BUDGET_SECONDS of opening the page, every operation of
openapi.yaml is on it (Swagger UI keeps only the operations near the viewport in the page: there the first must show
within BUDGET_SECONDS and every one be reached scrolling down, within SCROLL_SECONDS more), and unless the page loaded
nothing from another origin (fonts included). Screenshots go to .data/docs-check/ (look at them). `make test` does not
run this: it would need chromium from apt-get (about 47 s and 350 MB on a fresh machine, as root);
tests/api/test_docs.py checks the same pages and every asset they load without a browser.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import yaml

from tools.serve import ROOT, gunicorn_command, wait_until_serving

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUDGET_SECONDS = 10.0  # until the first operation shows (every one, on a page that renders them all at once)
# Swagger UI (5.x) renders only the operations near the viewport: each must be reached by scrolling, within this.
VIRTUALISED = {"/api/docs/"}
SCROLL_SECONDS = 60.0
OUT = ROOT / ".data" / "docs-check"
# How each page marks one rendered operation.
OPERATION_SELECTORS = {
    "/api/docs/": ".opblock",
    "/api/redoc/": '[data-section-id^="operation/"]',
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def operation_count() -> int:
    paths = yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"]
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return sum(1 for item in paths.values() for method in item if method in methods)


def reachable(page, selector: str, expected: int, deadline: float) -> int:
    """How many distinct operations one reaches scrolling the page from top to bottom (Swagger UI keeps in the DOM
    only the operations near the viewport)."""
    seen: set[str] = set()
    page.evaluate("window.scrollTo(0, 0)")
    keys = "els => els.map(e => e.id || e.getAttribute('data-section-id') || e.textContent.slice(0, 300))"
    while time.monotonic() < deadline:
        seen |= set(page.eval_on_selector_all(selector, keys))
        if len(seen) >= expected:
            break
        if page.evaluate("window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2"):
            time.sleep(0.5)  # the last ones rendering
            seen |= set(page.eval_on_selector_all(selector, keys))
            break
        page.mouse.wheel(0, 600)
        time.sleep(0.15)
    page.evaluate("window.scrollTo(0, 0)")
    return len(seen)


def check_page(browser, base: str, path: str, expected: int) -> list[str]:
    """Problems found on one page (empty: fine); prints what it measured."""
    origin = urlparse(base).netloc
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    problems = []
    started = time.monotonic()
    page.goto(base + path, wait_until="load")
    selector = OPERATION_SELECTORS[path]
    rendered = 0
    while time.monotonic() - started < BUDGET_SECONDS:
        rendered = page.locator(selector).count()
        if rendered >= expected or (rendered and path in VIRTUALISED):
            break
        time.sleep(0.1)
    if path in VIRTUALISED and rendered:
        rendered = reachable(page, selector, expected, started + BUDGET_SECONDS + SCROLL_SECONDS)
    seconds = time.monotonic() - started
    page.wait_for_load_state("networkidle")
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=str(OUT / f"{name}.png"))
    page.screenshot(path=str(OUT / f"{name}-full.png"), full_page=True)
    foreign = sorted(
        {
            url
            for url in requested
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != origin
        }
    )
    print(
        f"{path}: {rendered} of {expected} operations after {seconds:.2f} s; {len(requested)} requests, "
        f"{len(foreign)} to another origin; screenshots in {OUT.relative_to(ROOT)}/{name}*.png"
    )
    if rendered < expected:
        problems.append(f"{path}: {rendered} of {expected} operations rendered within {BUDGET_SECONDS:.0f} s")
    if foreign:
        problems.append(f"{path}: loaded from another origin: {', '.join(foreign)}")
    page.close()
    return problems


@contextmanager
def serving_in_chromium(out: Path):
    """The app served by gunicorn on a free port (its log in `out`/gunicorn.log), and Debian's chromium driven by
    Playwright: `(browser, base URL)` for the duration. Run through `python -m tools.devdb exec --`."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    log = (out / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [*gunicorn_command(bind=f"127.0.0.1:{port}", workers=2), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(server, f"{base}/api/v1/health/live/", "gunicorn")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser, base
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(15)
        log.close()


def verdict(name: str, problems: list[str]) -> int:
    """Print the problems and the verdict; the exit status."""
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{name}: " + ("failed" if problems else "ok"))
    return 1 if problems else 0


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"no chromium at {CHROMIUM}: apt-get install chromium (make docs-check does)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    problems = []
    with serving_in_chromium(OUT) as (browser, base):
        expected = operation_count()
        for path in OPERATION_SELECTORS:
            problems += check_page(browser, base, path, expected)
    return verdict("docs check", problems)


if __name__ == "__main__":
    sys.exit(main())
