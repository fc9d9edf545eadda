#!/bin/sh
# First start only: n8n keeps its workflows and executions in its own database and role.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v pw="$N8N_DB_PASSWORD" <<'SQL'
CREATE ROLE n8n LOGIN PASSWORD :'pw';
CREATE DATABASE n8n OWNER n8n;
SQL
