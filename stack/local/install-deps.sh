#!/usr/bin/env bash
# Installs the system programs the local stack runs. Idempotent: does nothing when all are present.
# None of these packages starts a service by itself here; the lab starts them under supervisord.
set -euo pipefail

PACKAGES=(postgresql postgresql-contrib redis-server prometheus prometheus-alertmanager
          prometheus-node-exporter prometheus-postgres-exporter prometheus-redis-exporter
          prometheus-nginx-exporter nginx mtail postgresql-15-pgaudit)
BINARIES=(redis-server prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter
          prometheus-postgres-exporter prometheus-redis-exporter prometheus-nginx-exporter nginx mtail)

missing=()
for b in "${BINARIES[@]}"; do command -v "$b" >/dev/null 2>&1 || missing+=("$b"); done
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
   ! ls /usr/share/postgresql/*/extension/pg_stat_statements.control >/dev/null 2>&1; then
  missing+=(postgresql)
fi
# P7's audit arms: pgaudit for the lab's PostgreSQL 15 (preloaded by the lab whenever it is installed)
ls /usr/lib/postgresql/*/lib/pgaudit.so >/dev/null 2>&1 || missing+=(pgaudit)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi
echo "install-deps: missing ${missing[*]}"

if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps Debian's postinst scripts from starting the services system-wide.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  echo "install-deps: installed ${PACKAGES[*]}"
else
  cat >&2 <<MSG
install-deps: this is not Debian/Ubuntu; install these yourself, then run make again:
  PostgreSQL 15 or 16 server with contrib (pg_stat_statements, pg_trgm) and pgaudit, Redis 7, Prometheus 2.x
  (with promtool), Alertmanager (with amtool), node_exporter, postgres_exporter, redis_exporter,
  nginx-prometheus-exporter, nginx, mtail.
  Names must match the Debian binaries (prometheus-alertmanager, prometheus-node-exporter, ...) or be
  symlinked to them. Set LAB_PG_BIN to the directory holding initdb and postgres.
MSG
  exit 1
fi
