#!/bin/sh
# The image's commands (docs/scaling.md):
#   web      gunicorn serving the API on $PORT with $WEB_CONCURRENCY workers (the default)
#   worker   the procrastinate worker: events, webhook deliveries, reminders, housekeeping; extra arguments go to it
#            (`worker --queues webhooks --concurrency 4`); stop it with SIGTERM, it finishes its job first
#   release  migrate the database and create the cache table: once per release, before new web and worker containers
# Anything else runs as given (`python manage.py verify_audit`).
set -e
role="${1:-web}"
[ $# -gt 0 ] && shift
case "$role" in
web | worker | release) echo "$role" >/tmp/container-role ;;
esac
case "$role" in
web)
    exec gunicorn config.wsgi:application --config config/gunicorn.py --bind "0.0.0.0:${PORT}" \
        --workers "${WEB_CONCURRENCY}" --no-control-socket --access-logfile - --forwarded-allow-ips='*' "$@"
    ;;
worker)
    exec python manage.py procrastinate worker "$@"
    ;;
release)
    python manage.py migrate --noinput
    exec python manage.py createcachetable
    ;;
healthcheck)
    # A web container answers /api/v1/health/ (the Host header must be one of DJANGO_ALLOWED_HOSTS; the path is
    # exempt from the HTTPS redirect). A worker has no port: its heartbeat shows in the web's /api/v1/health/.
    [ "$(cat /tmp/container-role 2>/dev/null)" = "web" ] || exit 0
    exec python -c "import os, urllib.request; \
host = os.environ['DJANGO_ALLOWED_HOSTS'].split(',')[0]; \
urllib.request.urlopen(urllib.request.Request(f'http://127.0.0.1:{os.environ[\"PORT\"]}/api/v1/health/', \
headers={'Host': host}), timeout=4)"
    ;;
*)
    exec "$role" "$@"
    ;;
esac
