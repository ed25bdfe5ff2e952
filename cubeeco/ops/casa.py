"""CASA net primary production (seed 001 Eqs. 1-7; Potter et al. 1993 as improved by Zhu et al. 2006).

``casa_npp`` maps the per-pixel monthly series (NDVI, temperature, precipitation, solar
radiation) and a vegetation-type raster to monthly NPP in g C m-2 month-1 through the
:mod:`cubeeco.kernels.casa` gufunc; ``casa_parameters`` computes the per-type NDVI/SR
bounds (5th/95th percentiles), exact, through the grouped reductions of :mod:`cubeeco.ops.reduce`.
``monthly_composite`` and ``fill_monthly`` make the 12 monthly NDVI values CASA needs from a
year's scenes (see :func:`cubeeco.workflows.monthly.monthly_ndvi`).

>>> import numpy as np, xarray as xr
>>> t = xr.DataArray(np.full(12, 10.0), dims="month")
>>> float(thornthwaite_pet(t)[0].round(1))
48.9
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import xarray as xr

from ..kernels import casa as K
from ..kernels.indices import simple_ratio_from_ndvi
from ._apply import apply_kernel, float_dtype
from ._checks import require_dataarray, require_dim, require_float
from .indices import align_chunks
from .reduce import grouped_quantiles, grouped_stat

PARAM_NAMES = ("ndvi_min", "ndvi_max", "sr_min", "sr_max", "eps_max")

# Maximum light-use efficiency ε_max (g C MJ-1) by vegetation type, Zhu Wenquan et al. (2006),
# "Simulation of maximum light use efficiency for some typical vegetation types in China",
# Chinese Science Bulletin 51(4): 457-463.
EPS_MAX_ZHU2006: dict[str, float] = {
    "evergreen_needleleaf_forest": 0.389,
    "deciduous_needleleaf_forest": 0.485,
    "evergreen_broadleaf_forest": 0.985,
    "deciduous_broadleaf_forest": 0.692,
    "mixed_forest": 0.475,
    "shrubland": 0.429,
    "grassland": 0.542,
    "cropland": 0.542,
    "other": 0.542,
}

# Default ε_max per CLCD class code (the land-cover product cubeeco loads).  CLCD "forest"
# does not split leaf types: the mixed-forest value is used.  Barren land (mine pits and
# unreclaimed dumps) and impervious land carry sparse vegetation: study 001 Table 3 reports
# 18.6-26.7 g C m-2 month-1 on unreclaimed dumps, so they take Zhu's "other" value and get
# small NPP from their low FPAR (see CLCD_MAX_BOUNDS_FROM); only water and snow/ice are 0.
CLCD_EPS_MAX: dict[int, float] = {
    1: EPS_MAX_ZHU2006["cropland"],
    2: EPS_MAX_ZHU2006["mixed_forest"],
    3: EPS_MAX_ZHU2006["shrubland"],
    4: EPS_MAX_ZHU2006["grassland"],
    5: 0.0,  # water
    6: 0.0,  # snow / ice
    7: EPS_MAX_ZHU2006["other"],  # barren (incl. mine pits and dumps): sparse vegetation
    8: EPS_MAX_ZHU2006["other"],  # impervious: sparse vegetation between buildings
    9: EPS_MAX_ZHU2006["other"],  # wetland
}

# Classes whose full-cover bounds (NDVI_max, SR_max) come from another class.  A barren
# class's own 95th percentile is still a sparse surface: stretched to FPAR_max it would
# make a dump as productive as a meadow.  Its bare-surface bound (NDVI_min) stays its own;
# full cover is the grassland's (the steppe that colonises dumps on the Loess Plateau).
CLCD_MAX_BOUNDS_FROM: dict[int, int] = {7: 4, 8: 4}

_COLD_RULES = {"half": K.COLD_HALF, "previous": K.COLD_PREVIOUS}
WATER_STRESS_METHODS = {"zhou_zhang": K.WATER_ZHOU_ZHANG, "ratio": K.WATER_RATIO}
COMPOSITE_METHODS = {"max": K.COMPOSITE_MAX, "median": K.COMPOSITE_MEDIAN}
FILL_ENDS = {"hold": K.ENDS_HOLD, "cyclic": K.ENDS_CYCLIC}
QUALITY_FLAGS = {
    K.Q_OBSERVED: "observed",
    K.Q_INTERPOLATED: "interpolated between clear months",
    K.Q_ENDS: "filled at the year's ends",
    K.Q_NONE: "no clear observation in the year (NaN)",
    K.Q_MISSING: "no clear observation in the month, not filled (NaN)",
}
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.float64)
_MID_DOY = np.cumsum(_DAYS) - _DAYS / 2.0


# ------------------------------------------------------------------ argument checks
def _monthly(da, name, dim):
    require_dataarray(da, name)
    require_float(da, name)
    require_dim(da, dim, name)
    if da.sizes[dim] != 12:
        raise ValueError(f"{name} has {da.sizes[dim]} steps along {dim!r}; CASA needs the 12 months of one year.")
    return da


def _veg_codes(veg_type, dim):
    require_dataarray(veg_type, "veg_type")
    if veg_type.dtype.kind not in "iu":
        raise TypeError(
            f"veg_type must be an integer class raster, got dtype {veg_type.dtype}; "
            "cast it with .astype('int16') after filling its nodata."
        )
    if dim in veg_type.dims:
        raise ValueError(f"veg_type must not have the month dimension {dim!r}; pass one class raster per year.")
    return veg_type.astype(np.int64)


def daylength_correction(latitude) -> xr.DataArray:
    """Thornthwaite correction (N/12)·(d/30) for each month at ``latitude`` (degrees).

    N: astronomical day length (h) on the middle day of the month (FAO-56 declination),
    d: days in the month (non-leap year).  ``latitude`` is a number or a DataArray.
    """
    month = xr.DataArray(np.arange(1, 13), dims="month")
    decl = xr.DataArray(0.409 * np.sin(2 * np.pi * _MID_DOY / 365.0 - 1.39), dims="month")
    days = xr.DataArray(_DAYS, dims="month")
    phi = np.deg2rad(latitude if isinstance(latitude, xr.DataArray) else xr.DataArray(float(latitude)))
    x = (-np.tan(phi) * np.tan(decl)).clip(-1.0, 1.0)
    hours = 24.0 / np.pi * np.arccos(x)
    out = (hours / 12.0) * (days / 30.0)
    return out.assign_coords(month=month).rename("pet_correction")


def _pet_correction(latitude, dim, dt):
    if latitude is None:
        return xr.DataArray(np.ones(12, dtype=dt), dims=dim)
    corr = daylength_correction(latitude).rename({"month": dim}).drop_vars(dim)
    return corr.astype(dt)


# ------------------------------------------------------------------ PET
def thornthwaite_pet(temperature, *, dim: str = "month", latitude=None) -> xr.DataArray:
    """Thornthwaite (1948) potential ET (mm month-1) of each month from monthly mean temperature (degC).

    Annual heat index I = Σ (T/5)^1.514 over months with T > 0, exponent
    a = 6.75e-7 I³ - 7.71e-5 I² + 1.792e-2 I + 0.49239, E_p0 = 16 (10 T / I)^a for
    0 < T < 26.5, -415.85 + 32.24 T - 0.43 T² above, 0 for T <= 0; times the day-length
    correction when ``latitude`` is given.
    """
    t = _monthly(temperature, "temperature", dim)
    dt = float_dtype(t)
    t = t.astype(dt)
    corr = _pet_correction(latitude, dim, dt)
    out = apply_kernel(K.thornthwaite_pet, t, corr, input_core_dims=[[dim], [dim]], output_core_dims=[[dim]],
                       output_dtypes=[dt], attrs=[{"units": "mm month-1", "long_name": "Thornthwaite potential evapotranspiration"}],
                       names=["pet"])
    return out.transpose(*[d for d in t.dims if d in out.dims], ...)


# ------------------------------------------------------------------ per-type bounds
def _class_index(codes, classes):
    # position of each code in ``classes`` (the group label); -1 (no group) for other codes
    if len(classes) == 0:
        return np.full(np.shape(codes), -1, dtype=np.int64)
    order = np.argsort(classes, kind="stable")
    pos = np.minimum(np.searchsorted(classes[order], codes), len(classes) - 1)
    return np.where(classes[order][pos] == codes, order[pos], -1).astype(np.int64)


def casa_parameters(ndvi, veg_type, *, sr=None, percentiles=(5.0, 95.0), eps_max: Mapping | None = None,
                    classes=None, max_bounds_from: Mapping | None = None,
                    bin_width: float | None = None) -> xr.Dataset:
    """Per-vegetation-type NDVI and SR bounds for the FPAR stretch (seed 001 Eqs. 4-5).

    NDVI_min / NDVI_max are the ``percentiles`` (5th and 95th) of all valid NDVI values
    (every pixel and month; NaN and values outside [-1, 1] left out) of each class,
    exact: ``np.nanpercentile`` with numpy's default "linear" method.  They come from
    :func:`cubeeco.ops.reduce.grouped_quantiles` (three passes over ``ndvi``: moments,
    a per-class histogram, the values of the bins holding the order statistics).  SR
    bounds are SR(NDVI bounds) (SR is increasing in NDVI); when ``sr`` is given, they are
    the exact percentiles of ``sr`` itself (reduced in the same passes).  ``eps_max`` maps
    class code to ε_max (default :data:`CLCD_EPS_MAX`); ``classes`` lists the codes
    (default: its keys).  ``max_bounds_from`` maps a class to the class whose NDVI_max /
    SR_max (full cover) it uses, where that class has values and its NDVI_max is above the
    class's own NDVI_min; default :data:`CLCD_MAX_BOUNDS_FROM` with the default ``eps_max``
    table, none otherwise (``{}``: every class its own).  ``bin_width`` is deprecated and
    ignored (the result is exact).
    Returns a Dataset over dimension ``veg_type``; lazy for dask input.
    """
    require_dataarray(ndvi, "ndvi")
    require_float(ndvi, "ndvi")
    require_dataarray(veg_type, "veg_type")
    if veg_type.dtype.kind not in "iu":
        raise TypeError(f"veg_type must be an integer class raster, got dtype {veg_type.dtype}.")
    missing = [d for d in veg_type.dims if d not in ndvi.dims]
    if missing:
        raise ValueError(f"veg_type has dims {missing} that ndvi lacks; both must share the grid dims.")
    lo_p, hi_p = (float(p) for p in percentiles)
    if not 0.0 <= lo_p < hi_p <= 100.0:
        raise ValueError(f"percentiles must be two numbers 0 <= low < high <= 100, got {percentiles!r}.")
    if bin_width is not None:
        warnings.warn("casa_parameters(bin_width=) is ignored: the percentiles are now exact.",
                      DeprecationWarning, stacklevel=2)
    eps_table = dict(CLCD_EPS_MAX if eps_max is None else eps_max)
    if max_bounds_from is None:
        max_bounds_from = CLCD_MAX_BOUNDS_FROM if eps_max is None else {}
    if not isinstance(max_bounds_from, Mapping):
        raise TypeError(f"max_bounds_from must map class code -> class code, got {type(max_bounds_from).__name__}.")
    classes = np.asarray(sorted(eps_table) if classes is None else list(classes), dtype=np.int64)
    labels = xr.apply_ufunc(_class_index, veg_type, kwargs={"classes": classes}, dask="parallelized",
                            output_dtypes=[np.int64])
    values = ndvi.where((ndvi >= -1.0) & (ndvi <= 1.0))
    if sr is not None:
        require_dataarray(sr, "sr")
        require_float(sr, "sr")
        values = xr.concat([values, sr.astype(values.dtype).transpose(*ndvi.dims)], dim="_band", coords="minimal",
                           join="exact")
    q = np.array([lo_p, hi_p]) / 100.0
    bounds = grouped_quantiles(values, labels, len(classes), q, dims=ndvi.dims)
    n_values = grouped_stat(values.isel(_band=0) if sr is not None else values, labels, len(classes), "count",
                            dims=ndvi.dims)
    if sr is not None:
        (nd_lo, nd_hi), (sr_lo, sr_hi) = ((bounds.data[i, 0], bounds.data[i, 1]) for i in range(2))
    else:
        nd_lo, nd_hi = bounds.data[0], bounds.data[1]
        sr_lo, sr_hi = (simple_ratio_from_ndvi(x) for x in (nd_lo, nd_hi))
    nd_hi, sr_hi, max_class = _borrow_max_bounds(classes, max_bounds_from, nd_lo, nd_hi, sr_hi, n_values.data)

    eps = np.asarray([float(eps_table.get(int(c), np.nan)) for c in classes])
    dims = ("veg_type",)
    ds = xr.Dataset(
        {
            "ndvi_min": (dims, nd_lo, {"long_name": f"NDVI {lo_p:g}th percentile of the class", "units": "1"}),
            "ndvi_max": (dims, nd_hi, {"long_name": f"NDVI {hi_p:g}th percentile of the class", "units": "1"}),
            "sr_min": (dims, sr_lo, {"long_name": f"SR {lo_p:g}th percentile of the class", "units": "1"}),
            "sr_max": (dims, sr_hi, {"long_name": f"SR {hi_p:g}th percentile of the class", "units": "1"}),
            "eps_max": (dims, eps, {"long_name": "maximum light use efficiency", "units": "g C MJ-1"}),
            "n_values": (dims, n_values.data, {"long_name": "valid NDVI values of the class"}),
            "max_bounds_class": (dims, max_class, {"long_name": "class whose NDVI_max / SR_max the class uses"}),
        },
        coords={"veg_type": classes},
        attrs={"percentiles": [lo_p, hi_p],
               "max_bounds_from": [[int(k), int(v)] for k, v in sorted(max_bounds_from.items())],
               "method": "exact per-class percentiles (numpy 'linear'), cubeeco.ops.reduce.grouped_quantiles"},
    )
    return ds


def _borrow_max_bounds(classes, borrow, nd_lo, nd_hi, sr_hi, n_values):
    """NDVI_max / SR_max of the classes in ``borrow`` replaced by their source class's (lazy for dask)."""
    where = {int(c): i for i, c in enumerate(classes)}
    take = np.arange(len(classes))
    for dst, src in borrow.items():
        if int(dst) in where and int(src) in where:
            take[where[int(dst)]] = where[int(src)]
    codes = np.asarray(classes, dtype=np.int64)
    if (take == np.arange(len(classes))).all():
        return nd_hi, sr_hi, codes
    # only a usable source: values of its own, and a full-cover bound above the class's bare one
    use = (n_values[take] > 0) & (nd_hi[take] > nd_lo)
    return np.where(use, nd_hi[take], nd_hi), np.where(use, sr_hi[take], sr_hi), np.where(use, codes[take], codes)


def _params_dataset(params) -> xr.Dataset:
    if isinstance(params, xr.Dataset):
        ds = params
    elif isinstance(params, Mapping):
        codes = sorted(params)
        try:
            data = {p: ("veg_type", [float(params[c][p]) for c in codes]) for p in PARAM_NAMES}
        except (KeyError, TypeError) as err:
            raise ValueError(f"params must map class code -> {{{', '.join(PARAM_NAMES)}}}; missing {err}.") from None
        ds = xr.Dataset(data, coords={"veg_type": np.asarray(codes, dtype=np.int64)})
    else:
        raise TypeError(f"params must be an xarray.Dataset (see casa_parameters) or a mapping, got {type(params).__name__}.")
    missing = [p for p in PARAM_NAMES if p not in ds.data_vars]
    if missing or "veg_type" not in ds.dims:
        raise ValueError(f"params needs variables {list(PARAM_NAMES)} over dimension 'veg_type'; missing {missing}.")
    return ds


# ------------------------------------------------------------------ NPP
def casa_npp(ndvi, temperature, precipitation, solar, veg_type, *, params=None, dim: str = "month",
             eps_max: Mapping | None = None, percentiles=(5.0, 95.0), alpha: float = 0.5,
             fpar_min: float = 0.001, fpar_max: float = 0.95, cold_water_stress: str = "half",
             water_stress_fill: float = 0.5, water_stress_max: float | None = None,
             latitude=None, water_stress: str = "zhou_zhang",
             max_bounds_from: Mapping | None = None) -> xr.DataArray:
    """Monthly NPP (g C m-2 month-1) by the CASA light-use-efficiency model (seed 001 Eqs. 1-7).

    Parameters
    ----------
    ndvi, temperature, precipitation, solar
        Monthly NDVI, mean air temperature (degC), precipitation (mm month-1) and total
        solar radiation (MJ m-2 month-1), each with the 12 months of one year along ``dim``
        (whole, in one chunk).
    veg_type
        Integer vegetation-type raster without ``dim`` (e.g. CLCD classes).
    params
        Per-type bounds and ε_max: a Dataset over ``veg_type`` with ``ndvi_min ndvi_max
        sr_min sr_max eps_max`` (see :func:`casa_parameters`) or a mapping code -> dict.
        None: computed from ``ndvi`` itself with ``percentiles`` and ``eps_max`` (default
        :data:`CLCD_EPS_MAX`) and ``max_bounds_from`` (see :func:`casa_parameters`), lazily.
        Classes not in the table give NaN.
    alpha
        FPAR = alpha·FPAR_NDVI + (1 - alpha)·FPAR_SR (0.5: the mean, seed 001 Eq. 3).
    cold_water_stress, water_stress_fill
        Months whose PET is 0 (T <= 0 degC): "half" sets W_ε = ``water_stress_fill``
        (0.5), "previous" carries the previous month's W_ε (the original CASA rule).
    water_stress_max
        Optional cap on W_ε (the formula reaches 1.5 when EET > E_p0); None: no cap.
    latitude
        Degrees (number or DataArray): apply the Thornthwaite day-length correction.
    water_stress
        W_ε method: ``"zhou_zhang"`` (default; Zhu et al. 2006, seed 001): W_ε = 0.5 + 0.5
        EET/PET with the Zhou & Zhang (1995) EET and Boucher's PET = (E_p0 + EET)/2;
        ``"ratio"``: W_ε = 0.5 + 0.5 min(P, E_p0)/E_p0 (EET at Budyko's supply and demand
        limits, in the CASA form of Potter et al. 1993).  E_p0: Thornthwaite.
    """
    for da, name in ((ndvi, "ndvi"), (temperature, "temperature"), (precipitation, "precipitation"), (solar, "solar")):
        _monthly(da, name, dim)
    codes = _veg_codes(veg_type, dim)
    if cold_water_stress not in _COLD_RULES:
        raise ValueError(f"cold_water_stress must be one of {sorted(_COLD_RULES)}, got {cold_water_stress!r}.")
    if water_stress not in WATER_STRESS_METHODS:
        raise ValueError(f"water_stress must be one of {sorted(WATER_STRESS_METHODS)}, got {water_stress!r}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    if not 0.0 <= fpar_min < fpar_max <= 1.0:
        raise ValueError(f"need 0 <= fpar_min < fpar_max <= 1, got {fpar_min}, {fpar_max}.")
    w_max = np.inf if water_stress_max is None else float(water_stress_max)
    dt = float_dtype(ndvi, temperature, precipitation, solar)
    aligned = align_chunks({"ndvi": ndvi, "temperature": temperature, "precipitation": precipitation,
                            "solar": solar, "veg_type": codes})
    codes = aligned.pop("veg_type")
    monthly = [da.astype(dt) for da in aligned.values()]

    if params is None:
        params = casa_parameters(monthly[0], veg_type, percentiles=percentiles, eps_max=eps_max,
                                 max_bounds_from=max_bounds_from)
    params = _params_dataset(params)
    table = xr.concat([params[p].astype(np.float64) for p in PARAM_NAMES], dim="param").transpose("veg_type", "param")
    if table.chunks is not None:
        table = table.chunk({"veg_type": -1, "param": -1})  # a 5 x n_classes table, not the cube
    table_codes = params["veg_type"].astype(np.int64).reset_coords(drop=True)
    table = table.drop_vars("veg_type")
    per_pixel = apply_kernel(K.class_lookup, codes, table_codes.drop_vars("veg_type", errors="ignore"), table,
                             input_core_dims=[[], ["veg_type"], ["veg_type", "param"]], output_core_dims=[["param"]],
                             output_sizes={"param": len(PARAM_NAMES)}, output_dtypes=[np.float64])
    scalars = [per_pixel.isel(param=k) for k in range(len(PARAM_NAMES))]
    corr = _pet_correction(latitude, dim, dt)
    opts = [float(fpar_min), float(fpar_max), float(alpha), float(water_stress_fill),
            int(_COLD_RULES[cold_water_stress]), w_max, int(WATER_STRESS_METHODS[water_stress])]
    attrs = {
        "units": "g C m-2 month-1",
        "long_name": "net primary production (CASA)",
        "model": "CASA (Potter et al. 1993) with Zhu et al. (2006) stress terms; seed 001 Eqs. 1-7",
        "water_stress": water_stress,
        "fpar_min": fpar_min, "fpar_max": fpar_max, "alpha": alpha,
        "cold_water_stress": cold_water_stress, "water_stress_fill": water_stress_fill,
        "daylength_correction": "none" if latitude is None else "Thornthwaite (N/12)(d/30)",
    }
    out = apply_kernel(K.casa_npp_ws, *monthly, corr, *scalars, *opts,
                       input_core_dims=[[dim]] * 5 + [[]] * (len(scalars) + len(opts)),
                       output_core_dims=[[dim]], output_dtypes=[dt], attrs=[attrs], names=["npp"])
    out = out.drop_vars("param", errors="ignore")
    return out.transpose(*[d for d in ndvi.dims if d in out.dims], ...)


def annual_npp(npp, *, dim: str = "month") -> xr.DataArray:
    """Annual NPP (g C m-2 yr-1): the sum of the 12 monthly values (NaN if any month is NaN)."""
    require_dataarray(npp, "npp")
    require_dim(npp, dim, "npp")
    out = npp.sum(dim, skipna=False)
    out.attrs = {**npp.attrs, "units": "g C m-2 yr-1", "long_name": "annual net primary production",
                 "cell_methods": f"{dim}: sum"}
    return out.rename("npp")


# ------------------------------------------------------------------ monthly inputs
_MONTHS = np.arange(1, 13, dtype=np.int64)


def monthly_composite(da, *, dim: str = "time", method: str = "max") -> xr.Dataset:
    """The 12 monthly composites of one year's observations along ``dim`` (datetimes).

    ``method``: ``"max"`` (maximum-value composite, Holben 1986, the usual CASA NDVI input)
    or ``"median"`` of each month's non-NaN values.  A month without one is NaN, never 0.
    Returns a Dataset with the composite (named like ``da``, else ``value``; dims
    ``month`` = 1..12 in place of ``dim``) and ``n_obs`` (uint8: the values used).
    ``dim`` must be one chunk (rechunk once, where the monthly cube is made); lazy for dask.
    """
    require_dataarray(da, "da")
    require_float(da, "da")
    require_dim(da, dim, "da")
    if method not in COMPOSITE_METHODS:
        raise ValueError(f"method must be one of {sorted(COMPOSITE_METHODS)}, got {method!r}.")
    if not np.issubdtype(da[dim].dtype, np.datetime64):
        raise TypeError(f"da's {dim!r} coordinate must hold datetimes (the scenes' acquisition times), "
                        f"got dtype {da[dim].dtype}.")
    years = np.unique(da[dim].dt.year.values)
    if len(years) == 0:
        raise ValueError(f"da has no steps along {dim!r}: nothing to composite.")
    if len(years) > 1:
        raise ValueError(f"da spans the years {years.tolist()} along {dim!r}; a monthly composite is of one "
                         f"year: select it first, e.g. da.sel({dim}=da.{dim}.dt.year == {int(years[0])}).")
    if da.dtype.kind != "f":
        da = da.astype(np.float64)
    name = da.name or "value"
    label = da[dim].dt.month.astype(np.int64).reset_coords(drop=True).rename("label")
    months = xr.DataArray(_MONTHS, dims="month")
    value, n_obs = apply_kernel(
        K.monthly_composite, da, label, months, int(COMPOSITE_METHODS[method]),
        input_core_dims=[[dim], [dim], ["month"], []], output_core_dims=[["month"], ["month"]],
        output_dtypes=[da.dtype, np.uint8],
        attrs=[{**da.attrs, "cell_methods": f"{dim}: {'maximum' if method == 'max' else 'median'} within months"},
               {"long_name": "clear observations in the monthly composite", "units": "1"}])
    ds = xr.Dataset({name: value, "n_obs": n_obs})
    ds = ds.drop_vars([c for c in ds.coords if dim in ds[c].dims], errors="ignore")
    ds = ds.assign_coords(month=("month", _MONTHS, {"long_name": "month of the year"}))
    ds = ds.transpose("month", ...)
    ds.attrs.update({"composite_method": method, "year": int(years[0])})
    return ds


def fill_monthly(da, *, dim: str = "month", ends: str = "cyclic") -> xr.Dataset:
    """Fill the NaN months of a 12-month series (e.g. :func:`monthly_composite`) along ``dim``.

    A month between two clear months: linear interpolation in month index (quality 1);
    months before the first / after the last clear month (quality 2): ``ends="hold"`` takes
    that month's value, ``"cyclic"`` interpolates across the year's end as if December
    were followed by January of the same year; a pixel without any clear month stays NaN
    (quality 3); observed months are kept (quality 0).  Returns a Dataset with the filled
    values (named like ``da``, else ``value``) and ``quality`` (int8, :data:`QUALITY_FLAGS`).
    """
    _monthly(da, "da", dim)
    if ends not in FILL_ENDS:
        raise ValueError(f"ends must be one of {sorted(FILL_ENDS)}, got {ends!r}.")
    if da.dtype.kind != "f":
        da = da.astype(np.float64)
    name = da.name or "value"
    value, quality = apply_kernel(
        K.fill_months, da, int(FILL_ENDS[ends]), input_core_dims=[[dim], []],
        output_core_dims=[[dim], [dim]], output_dtypes=[da.dtype, np.int8],
        attrs=[{**da.attrs, "gap_fill": f"linear between clear months; ends: {ends}"}, _quality_attrs()])
    order = [d for d in da.dims]
    return xr.Dataset({name: value.transpose(*order), "quality": quality.transpose(*order)})


def _quality_attrs() -> dict:
    return {"long_name": "monthly value quality", "units": "1",
            "flag_values": list(QUALITY_FLAGS),
            "flag_meanings": "observed interpolated filled_at_year_ends no_clear_month_in_year not_filled"}
