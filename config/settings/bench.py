"""Settings for `make bench`: the app as in production, plus the benchmark's generator and baseline views."""

from .base import *

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
ROOT_URLCONF = "bench.urls"
DEBUG = False
# The benchmark drives the API hard from one address; throttles are not what it measures. Submissions are not
# throttled at all (None): a rate merely too high to refuse would still keep a minute's history of every POST
# the benchmark sends from its one address, and rewrite it on each.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "token_ip": "1000000/min",
        "token_user": "1000000/min",
        "invitation_accept": "1000/min",
        "submission_user": None,
        "submission_ip": None,
    },
}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}
# One of the benchmark's servers runs without recording events (BENCH_EVENTS=off), so that one run measures the
# submission POST with and without its event. Never off in production: the outbox is the record of what happened.
EVENTS_RECORD = env.str("BENCH_EVENTS", default="on") != "off"
