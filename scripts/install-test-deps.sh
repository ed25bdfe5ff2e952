#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine (run as root).
# - PostgreSQL 15 + PostGIS: the real STAC API server (stac-fastapi-pgstac) the tests start on 127.0.0.1
# - GDAL command-line tools: the tests open the Zarr stores with GDAL's Zarr driver
# - the package itself with its [test] extra (pytest, hypothesis, peers, stac-fastapi-pgstac, pypgstac)
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in postgresql-15 postgresql-15-postgis-3 postgresql-contrib gdal-bin; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # do not start the distribution's cluster: the tests run their own, private one
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

python -m pip install -q --disable-pip-version-check -e '.[test]'
