#!/usr/bin/env bash
# Installs n8n for the local stack's opt-in n8n service (LAB_N8N=1) under .lab/n8n, from the npm registry only.
# Idempotent: does nothing when the pinned version is already installed. Cold: about 6 min and 1.8 GB.
#   - xlsx is mapped to the registry's republished copy (n8n's own dependency points at a non-registry address);
#   - --ignore-scripts: isolated-vm does not compile against Node 20 (n8n then runs with N8N_EXPRESSION_ENGINE=legacy);
#   - sqlite3 is then rebuilt from the local Node headers (about 2 min), n8n's default database.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-1.123.81}"
XLSX_SPEC="npm:@e965/xlsx@0.20.2"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="${LAB_N8N_HOME:-$REPO/.lab/n8n}"
BIN="$DEST/node_modules/.bin/n8n"

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
  echo "install-n8n: node and npm are needed (Node 20: apt-get install nodejs npm)" >&2; exit 1; }

installed="$(node -p "require('$DEST/node_modules/n8n/package.json').version" 2>/dev/null || true)"
if [ -x "$BIN" ] && [ "$installed" = "$N8N_VERSION" ] && [ -e "$DEST/.sqlite3-rebuilt" ]; then
  echo "install-n8n: n8n $N8N_VERSION already installed in $DEST"
  exit 0
fi

mkdir -p "$DEST"
cat > "$DEST/package.json" <<JSON
{
  "name": "sentinel-lab-n8n",
  "private": true,
  "description": "n8n for Sentinel Lab's opt-in local n8n service (LAB_N8N=1); written by stack/local/install-n8n.sh",
  "dependencies": {"n8n": "$N8N_VERSION"},
  "overrides": {"xlsx": "$XLSX_SPEC"}
}
JSON
start=$(date +%s)
echo "install-n8n: npm install n8n@$N8N_VERSION into $DEST (several minutes, ~1.8 GB)"
(cd "$DEST" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
echo "install-n8n: npm rebuild sqlite3 from the local Node headers (about 2 min)"
(cd "$DEST" && npm rebuild sqlite3 --loglevel=error)
touch "$DEST/.sqlite3-rebuilt"
echo "install-n8n: done in $(( $(date +%s) - start )) s, $(du -sh "$DEST" | cut -f1) on disk; start it with LAB_N8N=1"
