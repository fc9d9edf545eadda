# The pinned Postgres image plus pgaudit, the audit extension P7's pgaudit arms use (PG_AUDIT); the
# shared postgresql.conf preloads it (shared_preload_libraries) and leaves it idle at pgaudit.log = 'none'.
# PG_MAJOR is the base image's own: the package always matches the server's major version. The
# official image carries the PostgreSQL apt repository (apt.postgresql.org), which has the package.
ARG BASE
FROM ${BASE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}-pgaudit" \
    && rm -rf /var/lib/apt/lists/*
