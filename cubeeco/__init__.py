"""cubeeco: a chunked, parallel raster-cube engine for the ecology of mining regions.

Public names are imported lazily, so ``import cubeeco`` compiles nothing, reads no
environment and starts no cluster.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cubeeco")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

# public name -> module that defines it
_LAZY = {
    "casa_npp": "cubeeco.ops.casa",
    "destruction_restoration_years": "cubeeco.ops.scale",
    "indices": "cubeeco.ops.indices",
    "mann_kendall": "cubeeco.ops.trend",
    "npp_scale_transform": "cubeeco.ops.scale",
    "ols_trend": "cubeeco.ops.trend",
    "open_cube": "cubeeco.io.cube",
    "open_land_cover": "cubeeco.io.cube",
    "open_npp": "cubeeco.io.cube",
    "SearchError": "cubeeco.io.search",
    "StacSourceError": "cubeeco.io.search",
    "MissingDataWarning": "cubeeco.io.items",
    "StoreLockedError": "cubeeco.io.lock",
    "annual_composite": "cubeeco.io.composite",
    "open_store": "cubeeco.io.store",
    "write_store": "cubeeco.io.store",
    "search": "cubeeco.io.search",
    "sen_mann_kendall": "cubeeco.ops.trend",
    "sen_slope": "cubeeco.ops.trend",
    "trend": "cubeeco.ops.trend",
    "vcs": "cubeeco.ops.scale",
    "run": "cubeeco.pipeline.api",
    "open_table": "cubeeco.io.tables",
    "list_tables": "cubeeco.io.tables",
    "zonal_stats": "cubeeco.ops.zonal",
    "rings": "cubeeco.ops.zonal",
    "distance_bands": "cubeeco.ops.zonal",
    "spectral_indices": "cubeeco.ops.indices",
    "ols_predict": "cubeeco.ops.trend",
    "write_report": "cubeeco.report",
    "open_dem": "cubeeco.io.cube",
    "geodetector": "cubeeco.ops.geodetector",
    "sample_pixels": "cubeeco.ops.geodetector",
    "slope_aspect": "cubeeco.ops.terrain",
    "distance_to": "cubeeco.ops.terrain",
    "pettitt": "cubeeco.ops.changepoint",
    "split_trend": "cubeeco.ops.changepoint",
    "fdr_adjust": "cubeeco.ops.significance",
    "significance_classes": "cubeeco.ops.significance",
    "share_significant": "cubeeco.ops.significance",
    "piecewise_linear_fit": "cubeeco.ops.series",
    "quadratic_fit": "cubeeco.ops.series",
    "series_trend": "cubeeco.ops.series",
    "rsei": "cubeeco.ops.rsei",
    "rsei_basis": "cubeeco.ops.rsei",
    "rsei_grades": "cubeeco.ops.rsei",
    "eg_index": "cubeeco.ops.eg",
    "eg_moving_window": "cubeeco.ops.eg",
    "rsei_eg_overlay": "cubeeco.ops.eg",
    "overlay_areas": "cubeeco.ops.eg",
    # carbon workflows (studies 001, 002, 003)
    "krige": "cubeeco.ops.krige",
    "vegetation_disturbance": "cubeeco.ops.disturbance",
    "disturbance_from_raster": "cubeeco.ops.disturbance",
    "open_npp_native": "cubeeco.io.modis",
    "scale_transform": "cubeeco.ops.scale",
    "vcs_accounting": "cubeeco.ops.vcs",
    "vcsd_standard_error": "cubeeco.ops.vcs_uncertainty",
    "vcs_changes": "cubeeco.ops.vcs",
    "undisturbed_vcs": "cubeeco.ops.vcs",
    "carbon_value": "cubeeco.ops.carbon_value",
    "add_carbon_value": "cubeeco.ops.carbon_value",
    "casa_parameters": "cubeeco.ops.casa",
    "annual_npp": "cubeeco.ops.casa",
    "monthly_ndvi": "cubeeco.workflows.monthly",
    "monthly_climate": "cubeeco.workflows.monthly",
    "validate": "cubeeco.ops.validate",
    "sample_points": "cubeeco.ops.validate",
    "zone_labels": "cubeeco.ops.zonal",
    "npp_tables": "cubeeco.workflows.npp_tables",
    # carbon storage and landscape pattern (study 004)
    "invest_carbon": "cubeeco.ops.invest",
    "carbon_stock_series": "cubeeco.ops.invest",
    "carbon_transitions": "cubeeco.ops.invest",
    "carbon_uncertainty": "cubeeco.ops.invest",
    "landscape_metrics": "cubeeco.ops.landscape",
    "patch_tables": "cubeeco.ops.landscape",
    "moving_window": "cubeeco.ops.moving_window",
    "entropy_weights": "cubeeco.ops.coupling",
    "integrated_landscape_index": "cubeeco.ops.coupling",
    "coupling_coordination": "cubeeco.ops.coupling",
    "coupling_table": "cubeeco.ops.coupling",
    "pearson_table": "cubeeco.ops.drivers",
    "vif": "cubeeco.ops.drivers",
    "vif_screen": "cubeeco.ops.drivers",
    "regression": "cubeeco.ops.drivers",
    "mining_land_cover": "cubeeco.workflows.carbon_storage",
    "semivariogram": "cubeeco.ops.semivariogram",
    "fit_semivariogram": "cubeeco.ops.semivariogram",
    "choose_window": "cubeeco.ops.semivariogram",
    "contribution_ratio": "cubeeco.ops.contribution",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cubeeco' has no attribute {name!r}")
    obj = importlib.import_module(module)
    # a public name is a function of its module, or (``indices``) the module itself
    return getattr(obj, name) if hasattr(obj, name) else obj


def __dir__():
    return __all__
