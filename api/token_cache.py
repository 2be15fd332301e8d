"""A per-process cache of validated access tokens, invalidated through PostgreSQL LISTEN/NOTIFY.

Why: django-oauth-toolkit's validator reads the token, its application and its user in one three-table query on
every request (about a fifth of a cached read's time, docs/performance.md). Here a request whose token was seen by
this process in the last `TOKEN_CACHE_SECONDS` (30 s by default; 0 switches the cache off) costs no query at all.

Why not Django's cache: the configured cache is the DatabaseCache (no Redis or memcached here), so a lookup there
is a query too, no cheaper than the one it would replace. The entries therefore live in each process's memory, and
what makes that safe is invalidation pushed to every process:

- **Triggers, not call sites** (migration api 0002): every UPDATE or DELETE of an access token, an application or a
  user row, and a TRUNCATE of those tables, calls `pg_notify('token_cache', ...)` with what changed (`t:<token
  checksum>`, `a:<application id>`, `u:<user id>`, `*`). PostgreSQL delivers it when, and only if, the transaction
  commits. So no revoking path can be forgotten: DOT's revoke endpoint (it deletes the token), refresh-token
  rotation and reuse protection (they delete the access tokens, in bulk for a family), `tokens_revoke_all`
  (deactivation), a changed role or flag, a deleted or changed application (cascades delete its tokens), the
  admin, `clearexpired`, a `QuerySet.update()` and hand-written SQL in `psql` alike.
- **A listener thread per process** (started lazily on the first lookup, again after a fork, and reconnecting if
  its connection dies) holds its own psycopg connection, runs `LISTEN token_cache`, and evicts what each
  notification names. The cache is trusted only while that listener is connected and listening: while it is not,
  every request queries as before and nothing is stored, and on every (re)connection the cache is emptied, since
  notifications may have been missed while it was down. A connection that dies silently is noticed by a `SELECT 1`
  after `LISTEN_CHECK_SECONDS` without traffic (the bound on how long a silently lost network path can go unseen).
- **Model signals in the process itself** (post_save/post_delete of AccessToken, the Application model and the
  user) evict at once and again at commit, so the process that revokes refuses the token on its very next request
  without waiting for its own notification (and the same holds inside a test's never-committed transaction, where
  no notification is ever delivered). A `QuerySet.update()` or raw SQL sends no signal: for those, and for every
  other process, the notification at commit is what evicts.
- **The fill race**: a request reads the token row, then a revoking transaction commits and its notification is
  processed, then the request stores what it read: the cache would keep a revoked token. Each invalidation bumps a
  per-process generation counter; a request notes the generation before its query and stores the result only if
  the generation is unchanged (and the listener still up) when it stores. Any eviction in between, whatever it
  names, discards the fill; an eviction after the store removes the entry.

Guarantees: after a revoking transaction commits, the process that ran it refuses the token on its next request;
every other process refuses it as soon as its listener has processed the notification (PostgreSQL delivers it
right after the commit; a few milliseconds on one host) and at the latest after TOKEN_CACHE_SECONDS whatever
happens to the listener. A token's own expiry is checked on every hit (the cached row carries `expires`), as are
scopes, RFC 8707 audience and `Application.is_usable` — the validator runs unchanged on the cached objects, only
its query is replaced. Unknown and expired tokens, and those of deactivated accounts, are never cached
(each costs the query, as before).
Each hit builds fresh model instances (no object is shared between requests).
"""

import contextlib
import copy
import hashlib
import logging
import os
import select
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model
from oauth2_provider.settings import oauth2_settings

logger = logging.getLogger(__name__)

CHANNEL = "token_cache"
MAX_ENTRIES = 10_000
LISTEN_CHECK_SECONDS = 5.0  # with no notification for this long, the listener checks its connection
RETRY_SECONDS = 1.0  # between connection attempts while the database cannot be reached


def ttl_seconds() -> float:
    return float(getattr(settings, "TOKEN_CACHE_SECONDS", 30))


def _attnames(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def _values(instance) -> tuple:
    return tuple(getattr(instance, name) for name in _attnames(type(instance)))


def _build(model, values: tuple):
    # JSON values (the token's `resource` list) are copied: a request must not change another's objects.
    values = [copy.deepcopy(v) if isinstance(v, (list, dict)) else v for v in values]
    return model.from_db("default", _attnames(model), values)


@dataclass(frozen=True)
class Entry:
    deadline: float  # time.monotonic() after which the entry is not used
    expires: object  # the token's own expiry (datetime): an expired token is dropped and queried again
    user_id: str
    application_id: str
    token: tuple
    application: tuple | None
    user: tuple

    def objects(self):
        access_token = _build(get_access_token_model(), self.token)
        user = _build(type(access_token).user.field.related_model, self.user)
        access_token.user = user
        access_token.application = (
            _build(get_application_model(), self.application) if self.application is not None else None
        )
        return access_token


class TokenCache:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        self._generation = 0
        self._listening = False  # the listener is connected and has run LISTEN
        self._pid = None
        self._listener = None
        self._stop = threading.Event()
        self._connection = None

    # ------------------------------------------------------------------ lookups

    def load(self, token: str, query):
        """The AccessToken for the raw `token` (with its user and application), from the cache when this process
        holds a fresh entry, else from `query(token)` (the validator's own lookup), storing what it found."""
        seconds = ttl_seconds()
        if seconds <= 0:
            return query(token)
        self._ensure_listener()
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            trusted, generation = self._listening, self._generation
            entry = self._entries.get(checksum) if trusted else None
        if entry is not None:
            if entry.deadline > time.monotonic() and entry.expires > timezone.now():
                return entry.objects()
            with self._lock:
                if self._entries.get(checksum) is entry:
                    del self._entries[checksum]
        access_token = query(token)
        if (
            trusted
            and access_token is not None
            and access_token.user is not None  # every token here has a person; one without is never cached
            and access_token.user.is_active
            and not access_token.is_expired()
        ):
            self._store(checksum, generation, access_token, seconds)
        return access_token

    def _store(self, checksum: str, generation: int, access_token, seconds: float) -> None:
        application = access_token.application
        entry = Entry(
            deadline=time.monotonic() + seconds,
            expires=access_token.expires,
            user_id=str(access_token.user_id),
            application_id=str(access_token.application_id),
            token=_values(access_token),
            application=_values(application) if application is not None else None,
            user=_values(access_token.user),
        )
        with self._lock:
            if not self._listening or self._generation != generation:
                return  # something was invalidated while we read: what we read may be what it revoked
            if len(self._entries) >= MAX_ENTRIES:
                now = time.monotonic()
                self._entries = {k: e for k, e in self._entries.items() if e.deadline > now}
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
            self._entries[checksum] = entry

    # ------------------------------------------------------------------ invalidation

    def invalidate(self, payload: str) -> None:
        """Evict what a notification names: `t:<checksum>`, `u:<user id>`, `a:<application id>`, or `*`."""
        kind, _, key = payload.partition(":")
        with self._lock:
            self._generation += 1
            if kind == "t":
                self._entries.pop(key, None)
            elif kind == "u":
                self._entries = {k: e for k, e in self._entries.items() if e.user_id != key}
            elif kind == "a":
                self._entries = {k: e for k, e in self._entries.items() if e.application_id != key}
            else:
                self._entries.clear()

    def clear(self) -> None:
        self.invalidate("*")

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def trusted(self) -> bool:
        return self._listening

    # ------------------------------------------------------------------ the listener

    def _ensure_listener(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._listener is not None and self._listener.is_alive():
            return
        with self._lock:
            if self._pid == pid and self._listener is not None and self._listener.is_alive():
                return
            if self._pid != pid:  # a forked child: nothing inherited is ours
                self._entries, self._listening, self._connection = {}, False, None
                self._generation += 1
                self._stop = threading.Event()
            self._pid = pid
            self._listener = threading.Thread(target=self._listen, args=(self._stop,), name=CHANNEL, daemon=True)
            self._listener.start()

    def _set_listening(self, listening: bool) -> None:
        with self._lock:
            self._listening = listening
            self._generation += 1
            self._entries.clear()  # notifications may have been missed while not listening

    def _connect(self):
        import psycopg

        # LISTEN needs a session of its own: behind pgbouncer in transaction mode, TOKEN_CACHE_LISTEN_URL must
        # point straight at PostgreSQL (docs/scaling.md).
        url = getattr(settings, "TOKEN_CACHE_LISTEN_URL", "")
        if url:
            return psycopg.connect(url, autocommit=True, connect_timeout=2)
        params = connections["default"].get_connection_params()
        for key in ("context", "cursor_factory", "prepare_threshold"):
            params.pop(key, None)
        return psycopg.connect(**params, autocommit=True)

    def _listen(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            connection = None
            try:
                connection = self._connect()
                self._connection = connection
                connection.execute(f"LISTEN {CHANNEL}")
                self._set_listening(True)
                failures = 0
                quiet_since = time.monotonic()
                while not stop.is_set():
                    ready, _, _ = select.select([connection.fileno()], [], [], 0.5)
                    if ready:
                        for notice in connection.notifies(timeout=0):
                            self.invalidate(notice.payload)
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > LISTEN_CHECK_SECONDS:
                        connection.execute("SELECT 1")
                        quiet_since = time.monotonic()
                    if connection.closed or connection.broken:
                        raise ConnectionError("the listener's connection is closed")
            except Exception as error:  # any failure: stop trusting, reconnect
                if not stop.is_set():
                    failures += 1
                    # Once per outage: while the database is down, this retries every RETRY_SECONDS.
                    log = logger.warning if failures == 1 else logger.debug
                    log("token cache not in use: its listener has no connection (%s); retrying", error)
            finally:
                self._set_listening(False)
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.close()
            stop.wait(RETRY_SECONDS)

    def stop(self) -> None:
        """Stop this process's listener (tests, before the test database is dropped) and empty the cache."""
        with self._lock:
            listener, stop = self._listener, self._stop
            self._listener, self._stop = None, threading.Event()
        stop.set()
        if listener is not None:
            listener.join(timeout=5)
        self._set_listening(False)


cache = TokenCache()


def cached_validator_class():
    """The configured validator class (OAUTH2_VALIDATOR_CLASS) with its token query answered from the cache."""
    base = oauth2_settings.OAUTH2_VALIDATOR_CLASS
    cls = _validator_classes.get(base)
    if cls is None:

        class CachedTokenValidator(base):
            def _load_access_token(self, token):
                return cache.load(token, super()._load_access_token)

        cls = _validator_classes[base] = CachedTokenValidator
    return cls


_validator_classes: dict[type, type] = {}


# ---------------------------------------------------------------------- this process's own writes


def _evict_now_and_at_commit(payload: str) -> None:
    cache.invalidate(payload)
    # Another thread of this process may refill from the rows as they were before this transaction commits.
    transaction.on_commit(lambda: cache.invalidate(payload))


def _token_changed(sender, instance, created=False, **kwargs):
    if not created and instance.token_checksum:
        _evict_now_and_at_commit(f"t:{instance.token_checksum}")


def _application_changed(sender, instance, created=False, **kwargs):
    if not created:
        _evict_now_and_at_commit(f"a:{instance.pk}")


def _user_changed(sender, instance, created=False, **kwargs):
    if not created:
        _evict_now_and_at_commit(f"u:{instance.pk}")


def connect_signals() -> None:
    token_model = get_access_token_model()
    application_model = get_application_model()
    user_model = token_model.user.field.related_model
    for signal in (post_save, post_delete):
        signal.connect(_token_changed, sender=token_model, dispatch_uid="token_cache.token")
        signal.connect(_application_changed, sender=application_model, dispatch_uid="token_cache.application")
        signal.connect(_user_changed, sender=user_model, dispatch_uid="token_cache.user")
