# The Hearth image: daphne serving config.asgi behind nginx. The same image runs the one-shot
# migration and the precall worker (docker-compose.yml, docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# Then the project itself. It runs from the source tree in /app (PYTHONPATH), not from an
# installed copy: config.settings derives BASE_DIR and STATIC_ROOT from its own location, and
# pyproject's package list names only the top-level packages (a wheel would lack
# rooms/migrations and the management commands).
COPY . .

# Production serves hashed static files through whitenoise's manifest storage, so collect them
# in production mode. These build-only values never reach the running containers.
RUN HEARTH_MODE=production \
    SECRET_KEY=build-only-collectstatic-not-a-real-secret-key-000000 \
    MESSAGE_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin hearth
USER hearth

EXPOSE 8000

# Same flags as `make run` (Makefile DAPHNE_MAX_MESSAGE): a websocket message up to 128 KiB
# reaches the application, so a frame over the 16 KiB chat or 64 KiB signaling limit gets a
# readable error frame instead of a bare close; --proxy-headers because nginx sits in front
# (X-Forwarded-For/-Proto). No healthcheck here: the worker and the migration share this image;
# docker-compose.yml checks the web instances on /healthz.
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket-max-message-size", "131072", "--proxy-headers", "config.asgi:application"]
