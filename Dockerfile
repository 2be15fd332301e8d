# Production image: one image, three commands (docker-entrypoint.sh): `web` (gunicorn serving the API, the default),
# `worker` (the procrastinate worker) and `release` (migrations); PostgreSQL is external (DATABASE_URL).
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

# web: /api/v1/health/ (the Host header must be one of DJANGO_ALLOWED_HOSTS; the path is exempt from the HTTPS
# redirect); worker and release containers have no port and pass.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["/app/docker-entrypoint.sh", "healthcheck"]

# Run `release` (migrate, createcachetable) once per release before starting new `web` and `worker` containers.
# config/gunicorn.py raises gunicorn's request-line and header limits above the application's, so that the
# application answers 414 and 431 as problem+json; put a proxy with its own limits in front (docs/operations.md).
ENTRYPOINT ["/app/docker-entrypoint.sh"]
CMD ["web"]
