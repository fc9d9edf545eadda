# One image for the repo's Python services (api, worker, beat, truthsync, remediator);
# compose gives each its own command. Only the services' dependencies, not the lab's.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY stack/docker/requirements-services.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt \
 && useradd --system --uid 10001 --home-dir /app sentinel \
 && install -d -m 1777 /var/log/sentinel

COPY stack/docker/healthcheck.py /opt/sentinel/healthcheck.py
COPY stack /app/stack
COPY truthsync /app/truthsync
ENV PYTHONPATH=/app

USER sentinel
