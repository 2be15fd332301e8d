# Production image: gunicorn serving the API; PostgreSQL is external (DATABASE_URL).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    PORT=8000 \
    WEB_CONCURRENCY=2

WORKDIR /app
RUN useradd --create-home --uid 10001 app

COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock

COPY . .
# Static files (Swagger UI, ReDoc, the sign-in page) are collected at build time. The values below exist only
# so that production settings load for this step; the real ones come from the environment at run time.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtYS1zZWNyZXQtYnVpbGQtb24= \
    DATABASE_URL=postgres://build@build.invalid/build \
    python manage.py collectstatic --noinput

USER app
EXPOSE 8000

# The Host header must be one of DJANGO_ALLOWED_HOSTS; /api/v1/health/ is exempt from the HTTPS redirect.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD python -c "import os, urllib.request; \
host = os.environ['DJANGO_ALLOWED_HOSTS'].split(',')[0]; \
urllib.request.urlopen(urllib.request.Request(f'http://127.0.0.1:{os.environ[\"PORT\"]}/api/v1/health/', \
headers={'Host': host}), timeout=4)"

# Run `python manage.py migrate` (and `createcachetable`) as a release step before starting new containers.
# config/gunicorn.py raises gunicorn's request-line and header limits above the application's, so that the
# application answers 414 and 431 as problem+json; put a proxy with its own limits in front (docs/operations.md).
CMD ["sh", "-c", "exec gunicorn config.wsgi:application --config config/gunicorn.py --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY} --no-control-socket --access-logfile - --forwarded-allow-ips='*'"]
