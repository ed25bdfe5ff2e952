"""Provenance recorded with every stored group: inputs, configuration, versions."""

from __future__ import annotations

import datetime as dt
import json
import platform
from importlib.metadata import PackageNotFoundError, version

from ..redact import redact, redact_obj

PACKAGES = ("cubeeco", "numpy", "xarray", "dask", "distributed", "numba", "zarr", "rasterio",
            "rioxarray", "stackstac", "pystac", "pystac-client")


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def provenance(*, items=None, config=None, **extra) -> dict:
    """A JSON-able provenance record (strings only, so Zarr and GDAL keep it as is)."""
    record = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": json.dumps(package_versions(), sort_keys=True),
    }
    if items is not None:
        record["stac_item_ids"] = json.dumps(sorted(getattr(i, "id", None) or i["id"] for i in items))
    if config is not None:
        record["config"] = json.dumps(redact_obj(config), sort_keys=True, default=str)
    for k, v in extra.items():
        record[k] = v if isinstance(v, str) else json.dumps(redact_obj(v), sort_keys=True, default=str)
    # a source URL or a config may carry a token: none of it is ever stored (redact_obj masks
    # the value of a secret-named key, such as account_key, before the dict becomes text)
    return {f"provenance:{k}": redact(v) for k, v in record.items()}
