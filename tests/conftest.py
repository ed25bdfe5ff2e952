"""Shared pytest fixtures. Each section is independent; add new ones as their own section."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The suite runs from the clone's virtual environment (`.venv/bin/python -m pytest`) without it
# being activated: its console scripts (hadolint, dask, cubeeco) come first on PATH, as they
# would for a user who activated it.
_BIN = str(Path(sys.executable).parent)
if os.environ.get("PATH", "").split(os.pathsep)[0] != _BIN:
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")

# =====================================================================================
# Synthetic coal base (tiny_config, tiny_base, tiny_landscape): defined in
# tests/_synth_fixtures.py, made visible to every test module here.
# =====================================================================================
from tests._synth_fixtures import tiny_base, tiny_config, tiny_landscape  # noqa: F401

# =====================================================================================
# Real STAC API server: PostgreSQL + pgstac + stac-fastapi-pgstac on 127.0.0.1
# (cubeeco/testing/stacapi.py, docs/testing.md).
#
#   @pytest.mark.stacapi
#   def test_x(stac_api):
#       stac_api.load(collections, items, clear=True)   # dicts, loaded as given
#       client = pystac_client.Client.open(stac_api.url)
#
# For module-wide data, load once in a module-scoped fixture:
#
#   @pytest.fixture(scope="module")
#   def api_url(stac_api):
#       stac_api.load(COLLECTIONS, ITEMS, clear=True)
#       return stac_api.url
#
# One server per test session (start about 5 s); `clear=True` empties the catalog first,
# so modules do not see each other's items. Tests that use `stac_api` get the `stacapi`
# marker automatically (`-m "not stacapi"` deselects them). Without PostgreSQL/PostGIS the
# fixture skips, or fails when $CI is set; the message says to run
# scripts/install-test-deps.sh.
# =====================================================================================


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def stac_api(tmp_path_factory):
    """The session's STAC API server (a ``cubeeco.testing.stacapi.StacApiServer``), empty."""
    from cubeeco.testing.stacapi import StacApiUnavailable, start_stac_api

    try:
        server = start_stac_api([], [], tmp_path_factory.mktemp("stac-api"))
    except StacApiUnavailable as err:
        if _in_ci():
            pytest.fail(f"STAC API server unavailable in CI: {err}", pytrace=False)
        pytest.skip(f"STAC API server unavailable: {err}")
    with server:
        yield server


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "stac_api" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stacapi)
