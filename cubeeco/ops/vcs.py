"""VCS accounting of mining and restoration (study 002, Xu et al. 2024, Eqs. 3-5).

Per pixel (lazy, one gufunc pass over the annual VCS cube, :mod:`cubeeco.kernels.vcs`):

* :func:`undisturbed_vcs` -- the undisturbed-state series (OLS of VCS on the year before
  destruction, Eqs. 3-4);
* :func:`vcs_changes` -- per year: direct decrease / increase (relative to the previous
  year, in the year of destruction / restoration) and the potential changes C_destroy,
  C_restore (relative to the undisturbed state), in g CO2 m-2; one cycle (first T_D, T_R),
  or, given the yearly disturbance ``state``, every destruction / restoration cycle.

Aggregated (one grouped-moments pass per labelling, :mod:`cubeeco.ops.reduce`):

* :func:`accounting_moments` -- the lazy per-year, per-zone and per-cohort sums;
* :func:`vcs_accounting` -- computes them once and returns the tables of study 002
  (Fig. 2 a-d per year, Fig. 3 per mine, VCSD Eq. 5), see :class:`VCSAccounting`.

Conventions are in docs/vcs.md and the :mod:`cubeeco.kernels.vcs` docstring.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask
import numpy as np
import pandas as pd
import xarray as xr

from ..kernels import vcs as K
from ._apply import apply_kernel, float_dtype
from ._checks import require_dataarray, require_dim, require_float, require_whole_core_dim
from .reduce import grouped_moments

VCS_UNITS = "g CO2 m-2 yr-1"
CHANGE_UNITS = "g CO2 m-2"  # a one-year change of an annual rate: g CO2 m-2 (per that year)
_OK_UNITS = {"gco2m-2yr-1", "gco2m-2a-1", "gco2/m2/yr", "gco2m-2year-1", "gco2/m2/a"}

QUANTITIES = ("destroyed", "restored", "direct_decrease", "direct_increase", "c_destroy", "c_restore")
FLAG_MEANINGS = "undisturbed fitted no_undisturbed_year invalid_event_years mean_of_too_few_years"


# ------------------------------------------------------------------ argument checks
def _check_vcs(vcs, dim):
    require_dataarray(vcs, "vcs")
    require_float(vcs, "vcs")
    require_dim(vcs, dim, "vcs")
    require_whole_core_dim(vcs, dim, "vcs")
    units = vcs.attrs.get("units")
    if units is not None:
        key = str(units).lower().replace(" ", "").replace("₂", "2").replace("⁻²", "-2").replace("⁻¹", "-1")
        if key not in _OK_UNITS:
            raise ValueError(f"vcs has units {units!r}; VCS accounting expects {VCS_UNITS!r} "
                             f"(cubeeco.vcs(npp) produces it).")


def _years(vcs, dim, name: str = "vcs") -> xr.DataArray:
    """Integer years of the time axis (datetimes or integer years), strictly increasing, as float64."""
    if dim not in vcs.coords:
        raise ValueError(f"{name} needs a {dim!r} coordinate (datetimes or integer years) to name the years.")
    c = vcs[dim]
    if np.issubdtype(c.dtype, np.datetime64) or c.dtype == object:
        y = np.asarray(c.dt.year.values, dtype=np.int64)
    elif c.dtype.kind in "iu" or (c.dtype.kind == "f" and np.all(np.mod(c.values, 1) == 0)):
        y = np.asarray(c.values, dtype=np.int64)
    else:
        raise TypeError(f"the {dim!r} coordinate of {name} must hold datetimes or integer years, "
                        f"got dtype {c.dtype}.")
    if y.size > 1 and not np.all(np.diff(y) > 0):
        raise ValueError(f"the years of {name} along {dim!r} must be strictly increasing (one value per year); "
                         f"got {y.tolist()}.")
    return xr.DataArray(y.astype(np.float64), dims=dim)


def _event_years(arr, name, vcs, dim):
    if arr is None:
        return None
    require_dataarray(arr, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer raster of years (-1 = none), got dtype {arr.dtype}; "
                        f"cast it with .astype('int32') after filling NaN with -1.")
    if dim in arr.dims:
        raise ValueError(f"{name} must not have the time dimension {dim!r}; it holds one year per pixel.")
    extra = [d for d in arr.dims if d not in vcs.dims]
    if extra:
        raise ValueError(f"{name} has dims {extra} that vcs {tuple(vcs.dims)} lacks.")
    for d in arr.dims:
        if arr.sizes[d] != vcs.sizes[d]:
            raise ValueError(f"{name} has {arr.sizes[d]} steps along {d!r}, vcs has {vcs.sizes[d]}.")
    arr = arr.astype(np.int64)
    if vcs.chunks is not None:
        # a per-pixel 2-D raster takes the cube's spatial chunks (free for numpy; the cube itself
        # is never rechunked), else dask's gufunc refuses mismatched loop dimensions
        want = {d: vcs.chunksizes[d] for d in arr.dims}
        if arr.chunks is None or any(arr.chunksizes[d] != want[d] for d in arr.dims):
            arr = arr.chunk(want)
    return arr


def _state_on_vcs_years(state, vcs, dim):
    """The disturbance state (int8) on the years of vcs, selected by year, chunked like vcs."""
    require_dataarray(state, "state")
    if state.dtype.kind not in "iu":
        raise TypeError(f"state must be an integer raster of yearly disturbance states (1 vegetated/restored, "
                        f"0 destroyed, 2 not vegetated, -1 no data), got dtype {state.dtype}.")
    if dim not in state.dims:
        raise ValueError(f"state must have the time dimension {dim!r} (one state per year); it has {state.dims}.")
    extra = [d for d in state.dims if d not in vcs.dims]
    if extra:
        raise ValueError(f"state has dims {extra} that vcs {tuple(vcs.dims)} lacks.")
    for d in state.dims:
        if d != dim and state.sizes[d] != vcs.sizes[d]:
            raise ValueError(f"state has {state.sizes[d]} steps along {d!r}, vcs has {vcs.sizes[d]}.")
    have = _years(state, dim, "state").values.astype(np.int64)
    want = _years(vcs, dim).values.astype(np.int64)
    missing = sorted(set(want.tolist()) - set(have.tolist()))
    if missing:
        raise ValueError(f"state lacks the vcs years {missing} along {dim!r}; it must cover every year of vcs "
                         f"(state years {have.tolist()}).")
    # by year: the disturbance axis (Landsat) is usually longer than the VCS one (MOD17A3HGF)
    state = state.isel({dim: np.searchsorted(have, want)}).drop_vars(dim).assign_coords({dim: vcs[dim]})
    if state.dtype != np.int8:
        # codes outside int8 would wrap into 0 / 1 on the cast: they are no data
        state = xr.where((state >= -1) & (state <= 2), state, -1).astype(np.int8)
    if vcs.chunks is not None or state.chunks is not None:
        want_chunks = {d: (vcs.chunksizes[d] if vcs.chunks is not None and d != dim else -1) for d in state.dims}
        state = state.chunk(want_chunks)
    return state


def _check_fit_options(min_years, include_destruction_year):
    if isinstance(min_years, bool) or int(min_years) != min_years or min_years < 2:
        raise ValueError(f"min_years must be an integer >= 2 (a line needs two points), got {min_years!r}.")
    if not isinstance(include_destruction_year, (bool, np.bool_)):
        raise TypeError(f"include_destruction_year must be True or False, got {include_destruction_year!r}.")
    return int(min_years), int(bool(include_destruction_year))


def _fit_attrs(min_years, include_td):
    return {"min_years": min_years, "include_destruction_year": int(include_td),
            "fit_window": "first year .. T_D (Eq. 3 as printed)" if include_td else "first year .. T_D - 1",
            "method": "per-pixel OLS of VCS on year (study 002 Eqs. 3-4)"}


# ------------------------------------------------------------------ per pixel
def undisturbed_vcs(vcs, destruction_year, *, dim: str = "time", min_years: int = 3,
                    include_destruction_year: bool = False) -> xr.Dataset:
    """Undisturbed-state VCS (study 002 Eqs. 3-4), lazy for dask input.

    Parameters
    ----------
    vcs : DataArray (time, y, x), g CO2 m-2 yr-1, whole ``dim`` in one chunk.
    destruction_year : integer DataArray over the spatial dims; -1 = never destroyed.
    min_years : fewest valid years in the fit window (else NaN and ``fit_flag`` 2).
    include_destruction_year : False (default) fits the pre-mining years first .. T_D - 1
        (T_D = first destroyed year, VCS(T_D) = 0 by Eq. 1) and predicts from T_D on; True
        fits first .. T_D as Eq. 3's index range prints it and predicts from T_D + 1 (Eq. 4).
        The zero at T_D then pulls the line down (see docs/vcs.md).

    Returns
    -------
    Dataset with ``vcs_undisturbed`` (observed before the prediction starts, a·year + b
    after; the observed series for never-destroyed pixels), ``slope`` a, ``intercept`` b
    (at year 0), ``n_fit`` and ``fit_flag`` (0 undisturbed, 1 fitted, 2 too few years,
    3 invalid destruction year, e.g. off the time axis).
    """
    _check_vcs(vcs, dim)
    min_years, include_td = _check_fit_options(min_years, include_destruction_year)
    td = _event_years(destruction_year, "destruction_year", vcs, dim)
    years = _years(vcs, dim)
    dt = float_dtype(vcs)
    fit = _fit_attrs(min_years, include_td)
    und, a, b, n, f = apply_kernel(
        K.undisturbed_fit, vcs.astype(dt), years, td, min_years, include_td,
        input_core_dims=[[dim], [dim], [], [], []], output_core_dims=[[dim], [], [], [], []],
        output_dtypes=[dt, np.float64, np.float64, np.int32, np.int8],
        attrs=[{"units": VCS_UNITS, "long_name": "VCS of the undisturbed state", **fit},
               {"units": "g CO2 m-2 yr-2", "long_name": "slope a of the undisturbed-state regression (Eq. 3)"},
               {"units": VCS_UNITS, "long_name": "intercept b at year 0 of the undisturbed-state regression (Eq. 3)"},
               {"units": "1", "long_name": "number of years in the regression"},
               {"units": "1", "long_name": "undisturbed-state fit flag", "flag_values": [0, 1, 2, 3, 4],
                "flag_meanings": FLAG_MEANINGS}],
        names=["vcs_undisturbed", "slope", "intercept", "n_fit", "fit_flag"],
    )
    ds = xr.Dataset({"vcs_undisturbed": und.transpose(*vcs.dims), "slope": a, "intercept": b,
                     "n_fit": n, "fit_flag": f})
    return ds.assign_attrs(fit)


def vcs_changes(vcs, destruction_year, restoration_year=None, *, state=None, dim: str = "time",
                min_years: int = 3, include_destruction_year: bool = False) -> xr.Dataset:
    """Per-pixel, per-year direct and potential changes of VCS (study 002), lazy for dask input.

    ``restoration_year``: integer DataArray over the spatial dims, -1 = not restored (None:
    nobody restored).  Events in a year missing from the axis count in the next observed
    year; "previous year" is the previous step on the axis.

    Returns a Dataset with, over (time, y, x), in g CO2 m-2 (NaN where not defined):
    ``direct_decrease`` VCS(T_D - 1) - VCS(T_D) in the year of destruction (> 0 for a loss),
    ``direct_increase`` VCS(T_R) - VCS(T_R - 1) in the year of restoration, ``c_destroy``
    VCS_t - VCS_undisturbed,t while destroyed and not restored, ``c_restore`` the same from
    T_R on, and ``vcs_undisturbed``; per pixel ``slope``, ``intercept``, ``n_fit``,
    ``fit_flag`` and ``destruction_step`` / ``restoration_step`` (time index, -1 none).

    Event years outside the VCS years (the Landsat disturbance series is usually longer than
    MOD17A3HGF's) are brought onto its window first: a restoration after the last year is
    "not restored (yet)", a destruction after it "not destroyed (yet)"; a pixel destroyed
    and restored before the first year is undisturbed in the window; one destroyed before it
    and not restored by then is destroyed from the first year (no undisturbed year: no
    prediction, ``fit_flag`` 2, but its area and later restoration count).

    ``state`` (optional): the yearly disturbance state (integer, with ``dim``; codes of
    :func:`cubeeco.ops.disturbance.vegetation_disturbance`: 1 vegetated / restored, 0 destroyed,
    2 not vegetated, -1 no data), on a time axis that holds every vcs year (selected by year).
    With it every cycle is booked: each predicted year is booked by its state (0 -> c_destroy,
    1 -> c_restore, else nothing), with a direct decrease at every 1 -> 0 and a direct increase
    at every 0 -> 1 step, and the Dataset gains ``event`` (per year: 1 destruction,
    2 restoration, 0 none) that :func:`accounting_moments` counts as areas.  The fit and the
    cohorts (``destruction_step`` / ``restoration_step``) stay on the first T_D / T_R; a pixel
    whose event years all fall before the window but whose state shows a destruction in it
    takes its first events from the state.  Without ``state`` one cycle (T_D, T_R) is booked.
    """
    _check_vcs(vcs, dim)
    min_years, include_td = _check_fit_options(min_years, include_destruction_year)
    td = _event_years(destruction_year, "destruction_year", vcs, dim)
    tr = _event_years(restoration_year, "restoration_year", vcs, dim)
    if tr is None:
        tr = xr.full_like(td, K.NONE)
    years = _years(vcs, dim)
    st_ = None if state is None else _state_on_vcs_years(state, vcs, dim)
    td, tr = _onto_window(td, tr, int(years.values[0]), int(years.values[-1]))
    dt = float_dtype(vcs)
    fit = _fit_attrs(min_years, include_td)
    chg = {"units": CHANGE_UNITS}
    per_year = [{"units": VCS_UNITS, "long_name": "VCS of the undisturbed state", **fit}]
    if st_ is None:
        per_year += [
            {**chg, "long_name": "direct decrease of VCS in the year of destruction, VCS(T_D-1) - VCS(T_D)"},
            {**chg, "long_name": "direct increase of VCS in the year of restoration, VCS(T_R) - VCS(T_R-1)"},
            {**chg, "long_name": "potential change of VCS in the destroyed area, VCS - VCS_undisturbed"},
            {**chg, "long_name": "potential change of VCS in the restored area, VCS - VCS_undisturbed"}]
    else:
        per_year += [
            {**chg, "long_name": "direct decrease of VCS in each year of destruction, VCS(t-1) - VCS(t)"},
            {**chg, "long_name": "direct increase of VCS in each year of restoration, VCS(t) - VCS(t-1)"},
            {**chg, "long_name": "potential change of VCS in the destroyed area (state 0), VCS - VCS_undisturbed"},
            {**chg, "long_name": "potential change of VCS in the restored area (state 1 after T_D), "
                                 "VCS - VCS_undisturbed"},
            {"units": "1", "long_name": "disturbance event in the year", "flag_values": np.array([0, 1, 2], np.int8),
             "flag_meanings": "none destruction restoration"}]
    per_pixel = [
        {"units": "g CO2 m-2 yr-2", "long_name": "slope a of the undisturbed-state regression (Eq. 3)"},
        {"units": VCS_UNITS, "long_name": "intercept b at year 0 of the undisturbed-state regression (Eq. 3)"},
        {"units": "1", "long_name": "number of years in the regression"},
        {"units": "1", "long_name": "undisturbed-state fit flag", "flag_values": [0, 1, 2, 3, 4],
         "flag_meanings": FLAG_MEANINGS},
        {"units": "1", "long_name": f"index along {dim} of the destruction year (-1 none)"},
        {"units": "1", "long_name": f"index along {dim} of the restoration year (-1 none)"}]
    names = ["vcs_undisturbed", "direct_decrease", "direct_increase", "c_destroy", "c_restore"]
    names_px = ["slope", "intercept", "n_fit", "fit_flag", "destruction_step", "restoration_step"]
    dt_px = [np.float64, np.float64, np.int32, np.int8, np.int32, np.int32]
    if st_ is None:
        outs = apply_kernel(
            K.accounting, vcs.astype(dt), years, td, tr, min_years, include_td,
            input_core_dims=[[dim], [dim], [], [], [], []],
            output_core_dims=[[dim]] * 5 + [[]] * 6, output_dtypes=[dt] * 5 + dt_px,
            attrs=per_year + per_pixel, names=names + names_px)
    else:
        outs = apply_kernel(
            K.accounting_states, vcs.astype(dt), years, st_, td, tr, min_years, include_td,
            input_core_dims=[[dim], [dim], [dim], [], [], [], []],
            output_core_dims=[[dim]] * 6 + [[]] * 6, output_dtypes=[dt] * 5 + [np.int8] + dt_px,
            attrs=per_year + per_pixel, names=names + ["event"] + names_px)
    data = {o.name: (o.transpose(*vcs.dims) if dim in o.dims else o) for o in outs}
    attrs = dict(fit, time_dim=dim)
    if st_ is not None:
        attrs["booking"] = "every cycle, by the yearly disturbance state; cohorts by the first T_D / T_R"
    return xr.Dataset(data).assign_attrs(attrs)


def _onto_window(td, tr, first: int, last: int):
    """Event years clipped to the VCS window [first, last] (see :func:`vcs_changes`)."""
    none = K.NONE
    tr = xr.where(tr > last, none, tr)
    late = td > last
    before = (td != none) & (td < first)
    restored_before = before & (tr != none) & (tr < first)
    td = xr.where(late | restored_before, none, xr.where(before, first, td))
    tr = xr.where(late | restored_before, none, tr)
    return td.astype(np.int64), tr.astype(np.int64)


# ------------------------------------------------------------------ areas
def _is_geographic(da) -> bool:
    names = {str(n).lower() for n in da.dims}
    if names & {"lat", "lon", "latitude", "longitude"}:
        return True
    for d in da.dims:
        if d in da.coords and "degree" in str(da[d].attrs.get("units", "")).lower():
            return True
    try:
        import rioxarray  # noqa: F401

        crs = da.rio.crs
    except Exception:  # noqa: BLE001  (no or unreadable grid mapping: treated as metres)
        crs = None
    return crs is not None and bool(crs.is_geographic)


def pixel_area_m2(da, dims=("y", "x")) -> float:
    """|dx·dy| in m² from regularly spaced ``dims`` coordinates; refuses geographic grids."""
    if _is_geographic(da):
        raise ValueError("pixel areas need a projected grid in metres; this raster has geographic (degree) "
                         "coordinates. Reproject onto the analysis grid, or pass pixel_area= in m².")
    steps = []
    for d in dims:
        if d not in da.coords or da.sizes[d] < 2:
            raise ValueError(f"cannot read the pixel size: {d!r} needs a coordinate with at least 2 values; "
                             f"pass pixel_area= in m².")
        c = np.asarray(da[d].values, dtype=np.float64)
        s = np.diff(c)
        if s[0] == 0 or not np.allclose(s, s[0], rtol=1e-6, atol=0.0):
            raise ValueError(f"the {d!r} coordinate is not regularly spaced; pass pixel_area= in m².")
        steps.append(abs(float(s[0])))
    return steps[0] * steps[1]


def _area(changes, pixel_area, spatial):
    """(scalar m² or None, weights DataArray or None)."""
    if pixel_area is None:
        return pixel_area_m2(changes, spatial), None
    if isinstance(pixel_area, xr.DataArray):
        extra = [d for d in pixel_area.dims if d not in spatial]
        if extra:
            raise ValueError(f"pixel_area has dims {extra}; it must lie on the spatial dims {spatial}.")
        require_float(pixel_area, "pixel_area")
        return None, pixel_area.astype(np.float64)
    try:
        a = float(pixel_area)
    except (TypeError, ValueError):
        raise TypeError(f"pixel_area must be a number (m²) or a DataArray, got {type(pixel_area).__name__}.") from None
    if not np.isfinite(a) or a <= 0:
        raise ValueError(f"pixel_area must be a positive area in m², got {pixel_area!r}.")
    return a, None


# ------------------------------------------------------------------ aggregation
def accounting_moments(changes: xr.Dataset, *, zones=None, n_zones: int | None = None, pixel_area=None,
                       split_every=None) -> xr.Dataset:
    """Lazy grouped sums of a :func:`vcs_changes` Dataset (one pass per labelling).

    Returns a Dataset (nothing computed) with

    * ``sum`` / ``weight`` (quantity, time, group): Σ area·value and Σ area over the valid
      values of each of :data:`QUANTITIES` per zone (group 0 = outside every zone, or all
      pixels when ``zones`` is None); areas in m² (``area_m2`` attr when one scalar area),
    * ``cohort_sum`` / ``cohort_weight`` (kind, potential, time, cohort): c_destroy and
      c_restore by destruction-step and restoration-step cohort,
    * ``flag_count`` (flag, group): pixels per fit flag and zone.

    ``zones``: integer label raster on the spatial dims (0 = none); ``n_zones``: the largest
    label (read from ``zones`` -- a compute -- when None).
    """
    if not isinstance(changes, xr.Dataset) or not {"c_destroy", "destruction_step"} <= set(changes.data_vars):
        raise TypeError("changes must be the Dataset returned by cubeeco.ops.vcs.vcs_changes.")
    dim = changes.attrs.get("time_dim", "time")
    spatial = tuple(d for d in changes["c_destroy"].dims if d != dim)
    area, weights = _area(changes, pixel_area, spatial)
    if zones is None:
        labels = xr.zeros_like(changes["destruction_step"], dtype=np.int32)
        n_groups = 1
    else:
        require_dataarray(zones, "zones")
        if zones.dtype.kind not in "iu":
            raise TypeError(f"zones must be an integer label raster (0 = no zone), got dtype {zones.dtype}.")
        bad = [d for d in zones.dims if d not in spatial]
        if bad:
            raise ValueError(f"zones has dims {bad}; it must lie on the spatial dims {spatial}.")
        if n_zones is None:
            n_zones = int(zones.max().compute())
        if isinstance(n_zones, bool) or int(n_zones) != n_zones or n_zones < 0:
            raise ValueError(f"n_zones must be a non-negative integer (the largest zone label), got {n_zones!r}.")
        labels = zones
        n_groups = int(n_zones) + 1
    nt = changes.sizes[dim]
    step = xr.DataArray(np.arange(nt, dtype=np.int32), dims=dim)
    # event indicators (1 in the event year, 0 otherwise): their sums are areas; with a state
    # series (``event``) every destruction and restoration counts, else the first ones
    if "event" in changes.data_vars:
        destroyed = (changes["event"] == K.EVENT_DESTROYED).astype(np.float32)
        restored = (changes["event"] == K.EVENT_RESTORED).astype(np.float32)
    else:
        destroyed = (step == changes["destruction_step"]).astype(np.float32)
        restored = (step == changes["restoration_step"]).astype(np.float32)
    layers = [destroyed, restored] + [changes[q] for q in QUANTITIES[2:]]
    stack = xr.concat([x.transpose(dim, *spatial) for x in layers], dim="quantity", coords="minimal",
                      compat="override", join="override")
    stack = stack.assign_coords(quantity=list(QUANTITIES))
    m = grouped_moments(stack, labels, n_groups, dims=spatial, weights=weights, split_every=split_every)
    # its own dim name: sharing "quantity" with a subset would outer-join (and re-sort) the Dataset
    pot = stack.sel(quantity=["c_destroy", "c_restore"]).rename(quantity="potential")
    cd = grouped_moments(pot, changes["destruction_step"], nt, dims=spatial, weights=weights,
                         split_every=split_every)
    cr = grouped_moments(pot, changes["restoration_step"], nt, dims=spatial, weights=weights,
                         split_every=split_every)
    flag = changes["fit_flag"]
    fl = xr.concat([(flag == k).astype(np.float32) for k in range(5)], dim="flag")
    fl = fl.assign_coords(flag=FLAG_MEANINGS.split())
    fc = grouped_moments(fl, labels, n_groups, dims=spatial, split_every=split_every)
    coh = xr.concat([cd, cr], dim="kind").assign_coords(kind=["destruction", "restoration"])
    coh = coh.rename(group="cohort")
    ds = xr.Dataset({
        "sum": m.sel(moment="sum", drop=True), "weight": m.sel(moment="weight", drop=True),
        "cohort_sum": coh.sel(moment="sum", drop=True), "cohort_weight": coh.sel(moment="weight", drop=True),
        "flag_count": fc.sel(moment="sum", drop=True),
    })
    return ds.assign_attrs(area_m2=area if area is not None else np.nan, time_dim=dim,
                           zones=int(zones is not None))


@dataclass
class VCSAccounting:
    """The tables of :func:`vcs_accounting` (pandas; units per column in ``df.attrs["units"]``).

    annual        per year (Fig. 2 a-d of study 002), over all zones together;
    by_zone       one row per zone label 1..n (Fig. 3), None without ``zones``;
    annual_by_zone  (zone, year) rows with the annual columns, None without ``zones``;
    cohorts       (kind, cohort, year) rows: potential changes of the pixels destroyed
                  (kind "destruction") or restored (kind "restoration") in the cohort year;
    totals        Series: the whole-area numbers (direct changes, R_V, R_VCS, VCSD, ...).
    """

    annual: pd.DataFrame
    cohorts: pd.DataFrame
    totals: pd.Series
    by_zone: pd.DataFrame | None = None
    annual_by_zone: pd.DataFrame | None = None
    attrs: dict = field(default_factory=dict)

    def tables(self) -> dict:
        out = {"vcs_annual": self.annual, "vcs_cohorts": self.cohorts,
               "vcs_totals": self.totals.to_frame("value")}
        if self.by_zone is not None:
            out["vcs_by_zone"] = self.by_zone
            out["vcs_annual_by_zone"] = self.annual_by_zone
        return out


_ANNUAL_UNITS = {
    "destroyed_area_km2": "km2", "restored_area_km2": "km2",
    "direct_decrease_Gg": "Gg CO2", "direct_increase_Gg": "Gg CO2",
    "C_ddper": "g CO2 m-2", "C_diper": "g CO2 m-2",
    "R_V": "1", "R_VCS": "1", "R_V_cumulative": "1", "R_VCS_cumulative": "1",
    "C_destroy_Gg": "Gg CO2", "C_restore_Gg": "Gg CO2", "potential_change_Gg": "Gg CO2",
    "destroyed_state_area_km2": "km2", "restored_state_area_km2": "km2",
    "VCSD_cumulative_Gg": "Gg CO2",
}
_ZONE_UNITS = {
    "destroyed_area_km2": "km2", "restored_area_km2": "km2",
    "direct_decrease_Gg": "Gg CO2", "direct_increase_Gg": "Gg CO2", "R_V": "1", "R_VCS": "1",
    "C_destroy_Gg": "Gg CO2", "C_restore_Gg": "Gg CO2", "VCSD_Gg": "Gg CO2",
    "C_restore_per_restored_area": "g CO2 m-2",
    "n_fitted": "1", "n_mean_fit": "1", "n_short_fit": "1", "n_invalid": "1",
}


def _ratio(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


def _annual_columns(S, W, axis_t):
    """Annual columns from sums S, W (quantity, time, ...) already in g and m²."""
    q = {name: i for i, name in enumerate(QUANTITIES)}
    dA, rA = S[q["destroyed"]], S[q["restored"]]
    dec, inc = S[q["direct_decrease"]], S[q["direct_increase"]]
    cdes, cres = S[q["c_destroy"]], S[q["c_restore"]]
    pot = cdes + cres
    return {
        "destroyed_area_km2": dA / 1e6, "restored_area_km2": rA / 1e6,
        "direct_decrease_Gg": dec / 1e9, "direct_increase_Gg": inc / 1e9,
        "C_ddper": _ratio(dec, W[q["direct_decrease"]]), "C_diper": _ratio(inc, W[q["direct_increase"]]),
        "R_V": _ratio(rA, dA), "R_VCS": _ratio(inc, dec),
        "R_V_cumulative": _ratio(np.cumsum(rA, axis_t), np.cumsum(dA, axis_t)),
        "R_VCS_cumulative": _ratio(np.cumsum(inc, axis_t), np.cumsum(dec, axis_t)),
        "C_destroy_Gg": cdes / 1e9, "C_restore_Gg": cres / 1e9, "potential_change_Gg": pot / 1e9,
        "destroyed_state_area_km2": W[q["c_destroy"]] / 1e6, "restored_state_area_km2": W[q["c_restore"]] / 1e6,
        "VCSD_cumulative_Gg": 0.0 - np.cumsum(pot, axis_t) / 1e9,
    }


def _zone_columns(S, W, F):
    """Per-zone columns from S, W (quantity, time, group) and flag counts F (flag, group)."""
    q = {name: i for i, name in enumerate(QUANTITIES)}
    T = S.sum(axis=1)
    dA, rA = T[q["destroyed"]], T[q["restored"]]
    dec, inc = T[q["direct_decrease"]], T[q["direct_increase"]]
    cdes, cres = T[q["c_destroy"]], T[q["c_restore"]]
    return {
        "destroyed_area_km2": dA / 1e6, "restored_area_km2": rA / 1e6,
        "direct_decrease_Gg": dec / 1e9, "direct_increase_Gg": inc / 1e9,
        "R_V": _ratio(rA, dA), "R_VCS": _ratio(inc, dec),
        "C_destroy_Gg": cdes / 1e9, "C_restore_Gg": cres / 1e9, "VCSD_Gg": 0.0 - (cdes + cres) / 1e9,  # 0.0 - x: no -0.0 for an untouched zone
        "C_restore_per_restored_area": _ratio(cres, rA),
        "n_fitted": F[1].astype(np.int64), "n_mean_fit": F[4].astype(np.int64),
        "n_short_fit": F[2].astype(np.int64), "n_invalid": F[3].astype(np.int64),
    }


def _frame(cols, index, units):
    df = pd.DataFrame(cols, index=index)
    df.attrs["units"] = {c: units[c] for c in df.columns}
    return df


def vcs_accounting(vcs, destruction_year, restoration_year=None, *, state=None, zones=None,
                   n_zones: int | None = None,
                   pixel_area=None, dim: str = "time", min_years: int = 3,
                   include_destruction_year: bool = False, changes: xr.Dataset | None = None) -> VCSAccounting:
    """Study 002's VCS accounting tables: per year, per zone (mine), per cohort, and VCSD (Eq. 5).

    Computes (this is the one call that does): the per-pixel changes of :func:`vcs_changes`
    feed three families of grouped sums (:func:`accounting_moments`), evaluated one
    ``dask.compute`` each, so memory stays about a chunk per thread (the VCS cube is read
    three times; computed together, dask would hold the whole per-pixel change cube).

    Parameters
    ----------
    vcs, destruction_year, restoration_year, state, dim, min_years, include_destruction_year
        As in :func:`vcs_changes` (ignored when ``changes`` is given, except ``vcs`` for areas).
        With ``state`` every destruction / restoration cycle is booked (areas, direct and
        potential changes); the cohorts stay the first T_D / T_R.
    zones : integer label raster (0 = none) on the spatial dims -> ``by_zone`` rows 1..n.
        With zones the totals cover the zones only (so they equal the sum of the rows).
    n_zones : the largest zone label (read from ``zones`` when None: one more compute).
    pixel_area : m² per pixel, a number or a DataArray on the spatial dims; default |dx·dy|
        from the x / y coordinates (refused for geographic grids).
    changes : a :func:`vcs_changes` Dataset to reuse instead of recomputing it.

    VCSD = -(Σ_t C_destroy,t + Σ_t C_restore,t) in Gg CO2 (1 Gg = 1e9 g).
    """
    if changes is None:
        changes = vcs_changes(vcs, destruction_year, restoration_year, state=state, dim=dim,
                              min_years=min_years, include_destruction_year=include_destruction_year)
    if pixel_area is None and vcs is not None:
        pixel_area = pixel_area_m2(vcs, tuple(d for d in vcs.dims if d != dim))
    mom = accounting_moments(changes, zones=zones, n_zones=n_zones, pixel_area=pixel_area)
    # one pass per family of tables: computed together, dask keeps every chunk of the per-pixel
    # changes until all three groupings have read it (11 GiB on the Shendong grid); apart, each
    # pass recomputes the changes chunk by chunk and memory stays about one chunk per thread
    parts = [[v for v in ("sum", "weight") if v in mom], [v for v in ("cohort_sum", "cohort_weight") if v in mom]]
    parts.append([v for v in mom.data_vars if not any(v in p for p in parts)])
    mom = xr.merge([dask.compute(mom[p])[0] for p in parts if p], combine_attrs="override")
    dim = mom.attrs["time_dim"]
    scale = mom.attrs["area_m2"]
    scale = 1.0 if not np.isfinite(scale) else float(scale)
    S = mom["sum"].transpose("quantity", dim, "group").values * scale  # g CO2 or m²
    W = mom["weight"].transpose("quantity", dim, "group").values * scale
    F = mom["flag_count"].transpose("flag", "group").values
    years = _years(changes["c_destroy"], dim).values.astype(np.int64)
    if zones is not None:
        Sg, Wg, Fg = S[..., 1:], W[..., 1:], F[:, 1:]  # group 0 = outside every zone
    else:
        Sg, Wg, Fg = S, W, F
    St, Wt, Ft = Sg.sum(-1), Wg.sum(-1), Fg.sum(-1)
    year_index = pd.Index(years, name="year")
    annual = _frame(_annual_columns(St, Wt, 0), year_index, _ANNUAL_UNITS)
    tz = _zone_columns(St[..., None], Wt[..., None], Ft[..., None])
    totals = pd.Series({k: (v[0].item() if np.ndim(v) else v) for k, v in tz.items()})
    totals.attrs["units"] = dict(_ZONE_UNITS)

    by_zone = annual_by_zone = None
    if zones is not None:
        nz = Sg.shape[-1]
        zone_index = pd.Index(np.arange(1, nz + 1), name="zone")
        by_zone = _frame(_zone_columns(Sg, Wg, Fg), zone_index, _ZONE_UNITS)
        cols = _annual_columns(Sg, Wg, 0)  # each (time, zone)
        idx = pd.MultiIndex.from_product([zone_index, year_index])
        annual_by_zone = _frame({k: np.asarray(v).T.ravel() for k, v in cols.items()}, idx, _ANNUAL_UNITS)

    # cohorts: (kind, potential, time, cohort)
    cs = mom["cohort_sum"].transpose("kind", "potential", dim, "cohort").values * scale
    cw = mom["cohort_weight"].transpose("kind", "potential", dim, "cohort").values * scale
    rows = []
    for ik, kind in enumerate(("destruction", "restoration")):
        area = cw[ik].sum(axis=0)  # (time, cohort)
        t_i, c_i = np.nonzero(area > 0)
        order = np.lexsort((t_i, c_i))
        t_i, c_i = t_i[order], c_i[order]
        rows.append(pd.DataFrame({
            "kind": kind, "cohort": years[c_i], "year": years[t_i],
            "C_destroy_Gg": cs[ik, 0, t_i, c_i] / 1e9, "C_restore_Gg": cs[ik, 1, t_i, c_i] / 1e9,
            "potential_change_Gg": (cs[ik, 0, t_i, c_i] + cs[ik, 1, t_i, c_i]) / 1e9,
            "area_km2": area[t_i, c_i] / 1e6,
        }))
    cohorts = pd.concat(rows, ignore_index=True).set_index(["kind", "cohort", "year"])
    cohorts.attrs["units"] = {"C_destroy_Gg": "Gg CO2", "C_restore_Gg": "Gg CO2",
                              "potential_change_Gg": "Gg CO2", "area_km2": "km2"}
    attrs = {**{k: changes.attrs[k] for k in ("min_years", "include_destruction_year", "fit_window")
                if k in changes.attrs},
             "source": "study 002 (Xu et al. 2024, Shendong) Eqs. 3-5"}
    for df in (annual, cohorts, by_zone, annual_by_zone):
        if df is not None:
            df.attrs.update(attrs)
    return VCSAccounting(annual=annual, cohorts=cohorts, totals=totals, by_zone=by_zone,
                         annual_by_zone=annual_by_zone, attrs=attrs)
