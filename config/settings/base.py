"""Settings shared by every environment; whatever differs between machines comes from the environment."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.db_pool import POOL_OPTIONS, application_name
from tools.devdb import embedded_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = BASE_DIR / ".data"

env = environ.Env()

# Development defaults: production.py refuses to start with any of these.
INSECURE_SECRET_KEY = "insecure-development-key-never-use-in-production"
INSECURE_FIELD_ENCRYPTION_KEY = "PR2S6xkS9UkOt6hoQCSXnFRlyFX7K9qAtamr9SuU2-k="

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=INSECURE_SECRET_KEY)
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Field encryption (notes, homework answers, stored idempotent responses): Fernet keys, generated with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
# every key decrypts: rotate by putting a new key first and running `manage.py reencrypt`.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[INSECURE_FIELD_ENCRYPTION_KEY])
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    # Ours first: our templates (sign-in, consent) take precedence over the libraries' own.
    "api",
    "clinical",
    "exercises",
    "kernel",
    "events",
    "fhir_r4",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "pgtrigger",
    "pghistory",
    "corsheaders",
    "procrastinate.contrib.django",
    # Two-factor sign-in for staff: TOTP devices (authenticator apps); recovery codes are clinical.RecoveryCodeSet.
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "api.limits.RequestHeadLimitMiddleware",
    "api.errors.ProblemDetailsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.limits.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this browser session passed the second factor (the sign-in pages only).
    "django_otp.middleware.OTPMiddleware",
    "api.audit.RequestContextMiddleware",
    "api.audit.RowHistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
# No redirect to the path with a trailing slash: it would drop a POST's body and answer before authentication.
# A path without its slash is a 404 problem naming the path with it (api.errors.ProblemDetailsMiddleware).
APPEND_SLASH = False
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


APPLICATION_NAME = application_name(os.getpid())
# Without DATABASE_URL: the embedded PostgreSQL that `python -m tools.devdb exec` starts (see the README).
DATABASES = {"default": env.db_url("DATABASE_URL", default=embedded_database_url())}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool below keeps connections
DATABASES["default"]["OPTIONS"] = {
    # pg_stat_activity names the process holding each connection (settings load in each gunicorn or worker
    # process, after the fork): whose transaction holds a lock, which process to stop (docs/operations.md).
    # An application_name in DATABASE_URL wins.
    "application_name": APPLICATION_NAME,
    **DATABASES["default"].get("OPTIONS", {}),
    # A missing database must fail a request in about two seconds, not hang for thirty.
    "connect_timeout": 2,
    "pool": {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=2.0),
        "max_idle": 300,
        # While the server is down, fail waiting requests at once and reconnect on demand (config/db_pool.py).
        **POOL_OPTIONS,
    },
}
# The pool checks a connection before lending it: one broken by a database restart is replaced,
# not handed to a request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Each request is one transaction: a clinical read and its audit event, a change, its audit event, its row
# history and its stored idempotent response commit together or not at all.
DATABASES["default"]["ATOMIC_REQUESTS"] = True

# Optional: a PostgreSQL streaming replica of the primary (docs/scaling.md). Reports and case outcomes read from it
# (api.replica) once it has replayed the caller's own last change; everything else, and every write, uses the
# primary. Without DATABASE_REPLICA_URL nothing here exists and nothing extra runs.
if env("DATABASE_REPLICA_URL", default=""):
    _replica = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"] = {
        **_replica,
        "ENGINE": "django.db.backends.postgresql",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            "application_name": APPLICATION_NAME,
            **_replica.get("OPTIONS", {}),
            "connect_timeout": 2,
            # An unreachable replica costs a routed read at most this wait before the primary answers.
            "pool": {
                "min_size": env.int("DATABASE_REPLICA_POOL_MIN_SIZE", default=1),
                "max_size": env.int("DATABASE_REPLICA_POOL_MAX_SIZE", default=8),
                "timeout": env.float("DATABASE_REPLICA_POOL_TIMEOUT", default=0.5),
                "max_idle": 300,
            },
        },
        "CONN_HEALTH_CHECKS": True,
        # Read outside the request's transaction: only the routed reads touch it, and a request that does not
        # must not take a replica connection.
        "ATOMIC_REQUESTS": False,
    }
    # The replica is never migrated (it replays the primary's WAL) and never written to.
    DATABASE_ROUTERS = ["config.db_routers.PrimaryReplicaRouter"]
# After each change a caller makes, remember the primary's WAL position for them (a no-op without a replica).
MIDDLEWARE = [*MIDDLEWARE, "api.replica.WritePositionMiddleware"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "clinical.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/api/docs/"
LOGOUT_REDIRECT_URL = "login"  # without it, signing out looks for a template only the admin app ships: a 500

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=None)
# Development and tests serve static files (Swagger UI, ReDoc, the sign-in page) straight from the apps
# through whitenoise; production collects them at build time (production.py).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Shared between every process and node (no per-process state): throttling counters live in PostgreSQL.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "cache_entries",
    }
}

# Request limits (api.limits; README "Conventions"). Bodies above this size answer 413.
API_MAX_BODY_BYTES = 256 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# JSON nested deeper than this (arrays and objects) answers 400 `nesting_too_deep`, before any parser recurses.
API_MAX_JSON_DEPTH = 64
# A longer request target (path and query) answers 414; larger header fields answer 431. gunicorn's own limits
# (config/gunicorn.py) sit above these so that the application answers, as problem+json.
API_MAX_URL_BYTES = 8 * 1024
API_MAX_HEADER_FIELD_BYTES = 8 * 1024
API_MAX_HEADER_BYTES = 32 * 1024
API_MAX_HEADER_FIELDS = 100

IDEMPOTENCY_KEY_TTL = timedelta(days=7)

# Webhook receivers the API may call although they are not public https endpoints, as `host:port` (events/egress.py):
# for development only (`make run` allows 127.0.0.1:8765, the README's local receiver). Empty by default.
WEBHOOK_ALLOWED_TARGETS = env.list("WEBHOOK_ALLOWED_TARGETS", default=[])
# Seconds to wait after each failed delivery attempt, comma-separated (each ±20 %). Unset: events/delivery.py's
# RETRY_DELAYS (10 s, 1 min, 5 min, 15 min, 1 h, 3 h, 6 h, 12 h: nine attempts over about a day). `make resilience`
# sets a shorter schedule so that a receiver down for 10 minutes is retried within minutes of its return.
_webhook_retry_delays = env.list("WEBHOOK_RETRY_DELAYS", cast=float, default=[])
if _webhook_retry_delays:
    WEBHOOK_RETRY_DELAYS = tuple(_webhook_retry_delays)

# An attended session whose note is not signed this long after it ended is listed at notes/missing/.
NOTE_GRACE_HOURS = env.int("NOTE_GRACE_HOURS", default=72)
# When both partners of a couple must have consented to treatment (docs/security.md): before its case opens
# (`case_open`, the default), or only before its first joint session is booked (`first_joint_session`).
COUPLE_CONSENT_REQUIRED_BEFORE = env.str("COUPLE_CONSENT_REQUIRED_BEFORE", default="case_open")
if COUPLE_CONSENT_REQUIRED_BEFORE not in ("case_open", "first_joint_session"):
    raise ImproperlyConfigured("COUPLE_CONSENT_REQUIRED_BEFORE is case_open or first_joint_session.")
# The right to erasure (clinical/services/erasure.py): what a practice must keep of an erased client's care (signed
# notes, homework submissions, measures, the audit trail) is kept this many years after their last case closed. The
# period is the law's, and differs by jurisdiction and profession (often 6 to 10 years, and until a minor comes of
# age plus some years): set it to what applies to the practice.
RECORD_RETENTION_YEARS = env.int("RECORD_RETENTION_YEARS", default=7)
# A `before_each_session` self-report schedule (docs/outcome-measures.md) asks for its measure this many hours before
# each scheduled session the client attends; it stays due until the session starts, and a cancelled session
# withdraws it.
MEASURE_BEFORE_SESSION_HOURS = env.int("MEASURE_BEFORE_SESSION_HOURS", default=48)
# The alliance alerts (docs/outcome-measures.md): clinical policy of the practice, not validated cut-offs. A split of
# at least ALLIANCE_SPLIT_THRESHOLD points (of 40) between the partners' ratings in two joint sessions in a row; a
# partner's rating below ALLIANCE_FLOOR (of 40).
ALLIANCE_SPLIT_THRESHOLD = env.int("ALLIANCE_SPLIT_THRESHOLD", default=8)
ALLIANCE_FLOOR = env.int("ALLIANCE_FLOOR", default=24)

# Reminders on clients' phones (docs/events.md, Reminders) go to the push gateway of the app's vendor (which holds
# the APNs/FCM credentials), signed per Standard Webhooks with PUSH_GATEWAY_SECRET (`whsec_<base64>`). Without a URL
# no reminder is made or sent. The gateway is called like a webhook receiver (events/egress.py: public https, or a
# WEBHOOK_ALLOWED_TARGETS entry).
PUSH_GATEWAY_URL = env("PUSH_GATEWAY_URL", default="")
PUSH_GATEWAY_SECRET = env("PUSH_GATEWAY_SECRET", default="")

# The worker (procrastinate, `manage.py procrastinate worker`; docs/events.md, docs/scaling.md). LISTEN/NOTIFY starts
# a job a few milliseconds after the commit that deferred it; the poll is the fallback for what gets no NOTIFY
# (retries, scheduled jobs, a lost listener connection). Each worker writes a heartbeat to procrastinate_workers; one
# silent for WORKER_STALLED_AFTER_SECONDS is dead: its running jobs are retried (events/housekeeping.py) and
# /api/v1/health/ no longer counts it.
WORKER_STALLED_AFTER_SECONDS = 30
PROCRASTINATE_WORKER_DEFAULTS = {
    "listen_notify": True,
    "fetch_job_polling_interval": 0.5,
    "update_heartbeat_interval": 10.0,
    "stalled_worker_timeout": float(WORKER_STALLED_AFTER_SECONDS),
}
# /api/v1/health/ says `degraded` when the oldest job that is due has waited longer than this.
WORKER_QUEUE_LAG_LIMIT_SECONDS = 60
# Retention of the worker's own job rows (the Event outbox and webhook deliveries are the product's record and stay).
WORKER_KEEP_SUCCEEDED_JOBS = timedelta(days=7)
WORKER_KEEP_FAILED_JOBS = timedelta(days=30)

# Row history context (user, URL, request id) is attached to the statements of requests that change rows;
# reads change none (their audit event is not a tracked model), so they skip it.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# Jacobson & Truax reliable change for instruments without a fixed threshold: {code: (SD, reliability)}.
# CSI-4 needs a published SD and reliability (docs/outcome-measures.md); until both are given, its reliable
# change is reported as not available rather than computed from unverified numbers.
RELIABLE_CHANGE_PARAMETERS = {}
if env("CSI4_RELIABLE_CHANGE_SD", default="") and env("CSI4_RELIABLE_CHANGE_R", default=""):
    RELIABLE_CHANGE_PARAMETERS["csi4"] = (env.float("CSI4_RELIABLE_CHANGE_SD"), env.float("CSI4_RELIABLE_CHANGE_R"))

# Browser apps on other origins: only those DJANGO_CORS_ALLOWED_ORIGINS lists (comma-separated); none by default.
# The API, the token and revocation endpoints and the metadata, never the sign-in and consent pages.
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api/|o/token/|o/revoke_token/|\.well-known/)"
CORS_ALLOW_HEADERS = (*default_headers, "idempotency-key", "if-match")
CORS_EXPOSE_HEADERS = ("ETag", "Location", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate", "X-Request-ID")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.permissions.TokenHasScopes",
        "api.permissions.RoleAllowed",
    ],
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CreatedCursorPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "api.filters.StrictFilterBackend",
        "api.filters.UpdatedSinceFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.renderers.ContentNegotiation",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "token_ip": env("THROTTLE_TOKEN_IP", default="30/min"),
        "token_user": env("THROTTLE_TOKEN_USER", default="10/min"),
        "invitation_accept": env("THROTTLE_INVITATION_ACCEPT", default="10/min"),
        # Two-factor codes, as passwords at the token endpoint: per account and per address, every attempt counted
        # (on the sign-in page and in me/mfa/). django-otp's own back-off (1 s, 2 s, 4 s, ... after each failure in a
        # row) applies on top.
        "mfa_user": env("THROTTLE_MFA_USER", default="10/min"),
        "mfa_ip": env("THROTTLE_MFA_IP", default="30/min"),
        # Homework submissions and amendments. A phone back online sends its whole backlog at once (a week of
        # daily exercises, resent after timeouts): bursts of dozens are normal for one client, and many clients
        # may share one address behind a carrier's NAT or a clinic's Wi-Fi.
        "submission_user": env("THROTTLE_SUBMISSION_USER", default="120/min"),
        "submission_ip": env("THROTTLE_SUBMISSION_IP", default="600/min"),
    },
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

OAUTH_SCOPES = {
    "clinical:read": "Read clinical records on the caller's caseload",
    "clinical:write": "Create and change clinical records on the caller's caseload",
    "homework": "List homework and submit completions (client apps)",
    "reports": "Read caseload and outcome reports",
    "admin": "Manage the practice's accounts, clinicians and supervision",
    "fhir:export": "Export all of the practice's records as FHIR (bulk data, admins)",
}

# What each role's tokens may hold: a token gets the scopes asked for that its user's role may hold (api.oauth), at
# the token endpoint, on the consent page and on refresh; none of them → `invalid_scope`. The README's scope table
# says the same. Keys are clinical.models.Role values.
OAUTH_ROLE_SCOPES = {
    "admin": ["admin", "fhir:export"],
    "clinician": ["clinical:read", "clinical:write", "reports"],
    "supervisor": ["clinical:read", "clinical:write", "reports"],
    "client": ["homework"],
}

# Two-factor sign-in (docs/security.md, "Two-factor sign-in"). With MFA_REQUIRED_FOR_STAFF every staff account (admin,
# clinicians, supervisors) must pass a second factor to sign in: one with an authenticator app is asked for its code,
# one without is taken through enrolment first; the password grant is refused for them. Either way, an account that
# enrolled is asked for its code, and may remove its second factor only while the practice does not require one.
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=False)
# The name authenticator apps show beside the account (the otpauth URI's issuer).
OTP_TOTP_ISSUER = env.str("MFA_ISSUER", default="Couples care")
# How many single-use recovery codes an enrolment (or a regeneration) gives.
MFA_RECOVERY_CODES = 10

# Scopes a token gets only when asked for by name, never by default: reading the whole practice at once.
OAUTH_EXPLICIT_SCOPES = ["fhir:export"]

OAUTH2_PROVIDER_APPLICATION_MODEL = "clinical.OAuthApplication"
# How long a process may answer a bearer token from its own memory instead of querying it (api/token_cache.py:
# every revocation, rotation or deactivation evicts it at once in every process; 0 switches the cache off).
# The namespace of this software's own FHIR code systems and extensions (fhir_r4/terminology.py): a URL the vendor
# controls, the same on every server so that codes mean the same everywhere.
FHIR_SYSTEM_BASE = env.str("FHIR_SYSTEM_BASE", default="https://fhir.couples-care.org/")
# The bulk export (fhir_r4/exports.py): how long its files may be downloaded, and how many resources one file holds.
FHIR_EXPORT_HOURS = env.float("FHIR_EXPORT_HOURS", default=24.0)
FHIR_EXPORT_FILE_RESOURCES = env.int("FHIR_EXPORT_FILE_RESOURCES", default=10_000)
TOKEN_CACHE_SECONDS = env.float("TOKEN_CACHE_SECONDS", default=30.0)
# The cache's listener holds one connection per process for LISTEN; by default to the primary as DATABASES has it.
# Behind pgbouncer in transaction mode, point this straight at PostgreSQL (a postgres:// URL): LISTEN needs a session.
TOKEN_CACHE_LISTEN_URL = env.str("TOKEN_CACHE_LISTEN_URL", default="")
OAUTH2_PROVIDER = {
    "SCOPES": OAUTH_SCOPES,
    "DEFAULT_SCOPES": ["clinical:read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 30 * 24 * 3600,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "OAUTH2_VALIDATOR_CLASS": "api.oauth.OAuth2Validator",
    # The metadata (/.well-known/oauth-authorization-server) says what works here, and api.oauth.OAuth2Validator
    # refuses every other grant: no client-credentials tokens (every caller is a person with a role), no device
    # flow (its endpoints are not mounted), no implicit grant (RFC 9700). `none`: public clients (both demo apps)
    # name themselves with client_id alone; confidential ones authenticate with their secret.
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "password", "refresh_token"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["none", "client_secret_basic", "client_secret_post"],
    "ALLOWED_REDIRECT_URI_SCHEMES": env.list("OAUTH_REDIRECT_URI_SCHEMES", default=["http", "https"]),
    # RFC 9700 behaviour: S256 only, no tokens in query strings, `iss` in authorization responses,
    # tokens hashed at rest, refresh-token replay revokes the family, exact redirect URIs.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # The password grant stays available, but api.oauth.OAuth2Validator allows it only for
    # applications flagged first-party (the demo CLI).
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": False,
}

SYSTEM_FONTS = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
MONOSPACE_FONTS = 'ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace'
SPECTACULAR_SETTINGS = {
    "TITLE": "Couples therapy case-tracking API",
    "DESCRIPTION": (BASE_DIR / "api" / "openapi-description.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "clinical.models.identity.Role",
        "StaffRoleEnum": "clinical.models.identity.STAFF_ROLES",
        "HealthStatusEnum": ["ok", "degraded"],
        "OkEnum": ["ok"],
        "ClientStatusEnum": "clinical.models.people.ClientStatus",
        "CoupleStatusEnum": "clinical.models.people.CoupleStatus",
        "CaseStatusEnum": "clinical.models.care.CaseStatus",
        "NoteStatusEnum": "clinical.models.care.NoteStatus",
        "GoalLifecycleEnum": "clinical.models.care.GoalLifecycle",
        "AssignmentStatusEnum": "clinical.models.homework.AssignmentStatus",
        "SubmissionStatusEnum": "clinical.models.homework.SubmissionStatus",
        "FrequencyEnum": "exercises.models.Frequency",
        "ScheduleFrequencyEnum": "clinical.models.measures.ScheduleFrequency",
        "SessionStatusEnum": "clinical.models.sessions.SessionStatus",
        "SessionKindEnum": "clinical.models.sessions.SessionKind",
        "KindEnum": "clinical.models.consents.ConsentKind",  # its name in the contract before sessions had kinds
        "SessionOutcomeEnum": ["attended", "cancelled", "late_cancelled", "no_show"],
        "ConfidentialityPolicyEnum": "clinical.models.care.ConfidentialityPolicy",
        "ConsentMethodEnum": "clinical.models.consents.ConsentMethod",
        "RecordedConsentMethodEnum": ["paper", "verbal"],
        "ScreenResultEnum": "clinical.models.safety.ScreenResult",
        "HoldStatusEnum": "clinical.models.safety.HoldStatus",
        "HoldDecisionEnum": ["continue_jointly", "individual_work", "close"],
        # Goals and exercises speak of the same domains (kernel.models.GoalDomain): one enum in the contract.
        "DomainEnum": "kernel.models.GoalDomain",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docs load nothing from another origin (api/docs.py): ReDoc's default fonts would come from Google Fonts.
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": SYSTEM_FONTS,
                "headings": {"fontFamily": SYSTEM_FONTS},
                "code": {"fontFamily": MONOSPACE_FONTS},
            }
        }
    },
    # validatorUrl: Swagger UI would otherwise load a badge from validator.swagger.io on any host but localhost.
    "SWAGGER_UI_SETTINGS": {
        "persistAuthorization": True,
        "usePkceWithAuthorizationCodeGrant": True,
        "validatorUrl": None,
    },
    "SWAGGER_UI_OAUTH2_CONFIG": {"clientId": "demo-spa", "usePkceWithAuthorizationCodeGrant": True},
    # Third-party and mobile apps: authorization code + PKCE. The practice's own first-party apps (demo-cli) may
    # also use the password grant (api.oauth.OAuth2Validator).
    "OAUTH2_FLOWS": ["authorizationCode", "password"],
    "OAUTH2_AUTHORIZATION_URL": "/o/authorize/",
    "OAUTH2_TOKEN_URL": "/o/token/",
    "OAUTH2_REFRESH_URL": "/o/token/",
    "OAUTH2_SCOPES": OAUTH_SCOPES,
    "SERVERS": [{"url": "/", "description": "this server"}],
    # The demo practice's requests and answers (api/examples.json, `make examples`) as each operation's examples.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.examples.postprocess_examples"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # DOT logs every password-grant request as an RFC 9700 warning; the validator limits that grant.
        "oauth2_provider": {"level": "ERROR"},
        "django.request": {"level": "ERROR"},
        # procrastinate says "Deferred 1 job" on every event and narrates each job at INFO; its warnings and
        # errors (a failed job, a lost connection) still show. PROCRASTINATE_LOG_LEVEL=INFO brings the rest back.
        "procrastinate": {"level": env("PROCRASTINATE_LOG_LEVEL", default="WARNING")},
    },
}
