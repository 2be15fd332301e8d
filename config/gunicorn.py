"""gunicorn settings shared by every server this project starts: `gunicorn -c python:config.gunicorn …` in
`make run` (tools/serve.py), the Dockerfile, bench/run.py, tests/resilience/run.py and tests/test_running.py.

gunicorn refuses an oversized request line or header field itself, with an HTML page (414, 431) the client
cannot branch on. These limits sit above the application's (API_MAX_URL_BYTES, API_MAX_HEADER_FIELD_BYTES,
API_MAX_HEADER_BYTES, API_MAX_HEADER_FIELDS in config/settings/base.py; api/limits.py), so that the application
sees such a request and answers problem+json. What gunicorn 27.0.1 really does (gunicorn/http/message.py):

- `limit_request_line`: values from 8190 up are cut to 8190, which is less than the application's 8 KiB request
  target plus method and version; 0 means no limit. So 0: the application's 414 is the limit. (With gunicorn's
  optional C parser, 0 means 1 MiB; this project uses the pure-Python one.)
- `limit_request_field_size`: any positive value is used as given, with no maximum; 0 (documented as
  "unlimited") is in fact replaced by the default, 8190. 32 KiB lets a field up to that size reach the
  application, which refuses any over 8 KiB.
- `limit_request_fields`: at most 32768; 128 lets the application answer for 101 to 128 fields.

gunicorn still answers beyond these (a field over 32 KiB, more than 128 fields) with its own HTML error. And it
reads a request line of any length until the worker timeout: measured here, one connection sending a line that
never ends kept a worker busy (about 90% of a core, under 50 MB) until the 30 s timeout restarted it. In production
put a proxy with its own limits in front (docs/operations.md).
"""

limit_request_line = 0
limit_request_field_size = 32 * 1024
limit_request_fields = 128


def post_worker_init(worker):
    """Ctrl-C (SIGINT, which the terminal sends to the whole process group of `make run`, workers included) and the
    master's quick stop (SIGQUIT) end a worker after the request in hand, as SIGTERM does. gunicorn's own handler
    exits at once: a request still being finished (its connection closed, `request_finished` running) then ends in a
    logged traceback and a 500 — seen when Ctrl-C came while a loaded machine's worker was closing a request it had
    answered. The master still kills a worker that has not stopped within the graceful timeout."""
    import signal

    for signum in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, worker.handle_exit)
        signal.siginterrupt(signum, False)
