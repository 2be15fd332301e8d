"""`make resilience`: load and fault scenarios against the app as deployed (gunicorn, sync workers) and its own
embedded PostgreSQL (DEVDB_DIR=.data/resilience). Not collected by pytest: run.py is the entry point; the
figures of a real run are in docs/reliability.md."""
