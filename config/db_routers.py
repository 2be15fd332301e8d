"""Database routing with a read replica (installed only when DATABASE_REPLICA_URL is set).

Nothing reads from the replica by default: the few read paths that may (reports, a case's outcomes) name it
explicitly through api.replica, which also decides when they must not. This router only keeps the replica out of
everything else: it is never migrated (it follows the primary's WAL), and writes go to the primary.
"""

from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"  # the alias config/settings/base.py defines from DATABASE_REPLICA_URL


class PrimaryReplicaRouter:
    def db_for_read(self, model, **hints):
        return None  # the primary, unless a caller chose the replica with .using()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same rows: an object read from the replica may reference one from the primary.
        return {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA} or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None
