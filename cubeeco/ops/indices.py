"""Spectral indices of Landsat surface reflectance (seed 000 §3.1, seed 004 Table 1).

Every function takes reflectance DataArrays already scaled to reflectance (numpy- or
dask-backed), returns a DataArray of the same dims and coordinates, lazily for dask
input, float32 for float32 input (float64 otherwise), with ``units`` and
``long_name``.  NaN is missing; a denominator that is exactly zero gives NaN.

>>> import numpy as np, xarray as xr
>>> red = xr.DataArray(np.float32([[0.05, 0.2]]), dims=("y", "x"))
>>> nir = xr.DataArray(np.float32([[0.35, 0.2]]), dims=("y", "x"))
>>> ndvi(red, nir).values.round(3).tolist()
[[0.75, 0.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..kernels import indices as K
from ._apply import apply_kernel, float_dtype
from ._checks import finite_scalar, require_dataarray, require_float

# Tasseled-cap wetness coefficients for blue, green, red, NIR, SWIR1, SWIR2 (seed 000 Eqs. 3-5)
WETNESS_COEFFICIENTS: dict[str, tuple[float, ...]] = {
    "TM": (0.0315, 0.2021, 0.3102, 0.1594, -0.6706, -0.6109),
    "ETM+": (0.2626, 0.2141, 0.0926, 0.0656, -0.7629, -0.5388),
    "OLI": (0.1511, 0.1973, 0.3283, 0.3407, -0.7117, -0.4559),
}

# Thermal band constants K1 (W m-2 sr-1 um-1), K2 (K) (seed 000 Table 2)
THERMAL_CONSTANTS: dict[str, tuple[float, float]] = {
    "landsat5": (607.76, 1260.56),
    "landsat7": (666.09, 1282.71),
    "landsat8": (774.89, 1321.08),
}

# sensor / platform spellings -> canonical names
_SENSOR_ALIASES = {
    "tm": "TM", "landsat4": "TM", "landsat5": "TM",
    "etm+": "ETM+", "etm": "ETM+", "landsat7": "ETM+",
    "oli": "OLI", "landsat8": "OLI", "landsat9": "OLI", "oli/tirs": "OLI",
}
_THERMAL_ALIASES = {
    "tm": "landsat5", "landsat5": "landsat5", "landsat4": "landsat5",
    "etm+": "landsat7", "etm": "landsat7", "landsat7": "landsat7",
    "oli": "landsat8", "tirs": "landsat8", "landsat8": "landsat8",
}

_CELSIUS = {"degc", "°c", "celsius", "deg_c", "degree_celsius", "degrees_celsius", "c"}
_KELVIN = {"k", "kelvin", "degk"}


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def align_chunks(arrays: dict) -> dict:
    """Give numpy-backed inputs the chunks of the dask-backed ones; refuse mismatched dask chunks.

    ``apply_kernel`` never rechunks, and dask's message for unequal chunks names an
    internal loop dimension; this check names the arguments instead.  Chunking a numpy
    array is free (no data moves), so it is done here.
    """
    ref: dict = {}
    ref_name: dict = {}
    for name, da in arrays.items():
        if isinstance(da, xr.DataArray) and da.chunks is not None:
            for dim, chunks in da.chunksizes.items():
                if dim in ref and ref[dim] != chunks:
                    raise ValueError(
                        f"{name} and {ref_name[dim]} are chunked differently along {dim!r} "
                        f"({chunks[:3]}... vs {ref[dim][:3]}...); chunk them alike, e.g. "
                        f"{name}.chunk({{{dim!r}: {ref[dim][0]}}})."
                    )
                ref.setdefault(dim, chunks)
                ref_name.setdefault(dim, name)
    if not ref:
        return arrays
    out = {}
    for name, da in arrays.items():
        if isinstance(da, xr.DataArray) and da.chunks is None:
            da = da.chunk({d: ref.get(d, -1) for d in da.dims})
        out[name] = da
    return out


def _bands(**bands) -> tuple[list[xr.DataArray], np.dtype]:
    """Check band arguments (DataArray, numeric, identical dims and sizes); cast to one float dtype."""
    items = list(bands.items())
    for name, da in items:
        require_dataarray(da, name)
        require_float(da, name)
    first_name, first = items[0]
    for name, da in items[1:]:
        if da.dims != first.dims or da.shape != first.shape:
            raise ValueError(
                f"{name} has dims {da.dims} and shape {da.shape} but {first_name} has dims "
                f"{first.dims} and shape {first.shape}; pass bands of one cube (same grid and time axis)."
            )
    dt = float_dtype(*[da for _, da in items])
    items = list(align_chunks(dict(items)).items())
    return [da if da.dtype == dt else da.astype(dt) for _, da in items], dt


def _apply(kernel, arrays, scalars, dt, name, long_name, units="1", extra=None):
    attrs = {"units": units, "long_name": long_name, **(extra or {})}
    # parameters are float64 in every kernel signature (see kernels.indices._sigs)
    scalars = [np.float64(v) if not isinstance(v, xr.DataArray) else v for v in scalars]
    return apply_kernel(kernel, *arrays, *scalars, output_dtypes=[dt], attrs=[attrs], names=[name])


# ------------------------------------------------------------------ vegetation indices
def ndvi(red, nir) -> xr.DataArray:
    """NDVI = (NIR - RED) / (NIR + RED) (seed 000 Eq. 2)."""
    (red, nir), dt = _bands(red=red, nir=nir)
    return _apply(K.normalized_difference, [nir, red], [], dt, "ndvi", "normalized difference vegetation index")


def simple_ratio(ndvi) -> xr.DataArray:
    """SR = (1 + NDVI) / (1 - NDVI) (seed 001 Eq. 6); NaN where NDVI == 1."""
    (nd,), dt = _bands(ndvi=ndvi)
    return _apply(K.simple_ratio_from_ndvi, [nd], [], dt, "sr", "simple ratio (1 + NDVI) / (1 - NDVI)")


sr = simple_ratio


def rvi(red, nir) -> xr.DataArray:
    """RVI = NIR / RED (seed 004 Table 1)."""
    (red, nir), dt = _bands(red=red, nir=nir)
    return _apply(K.ratio, [nir, red], [], dt, "rvi", "ratio vegetation index")


def dvi(red, nir) -> xr.DataArray:
    """DVI = NIR - RED (seed 004 Table 1)."""
    (red, nir), dt = _bands(red=red, nir=nir)
    return _apply(K.difference, [nir, red], [], dt, "dvi", "difference vegetation index")


def gndvi(green, nir) -> xr.DataArray:
    """GNDVI = (NIR - GREEN) / (NIR + GREEN) (seed 004 Table 1)."""
    (green, nir), dt = _bands(green=green, nir=nir)
    return _apply(K.normalized_difference, [nir, green], [], dt, "gndvi",
                  "green normalized difference vegetation index")


def mndwi(green, swir1) -> xr.DataArray:
    """MNDWI = (GREEN - SWIR1) / (GREEN + SWIR1) (Xu 2006), for water masking."""
    (green, swir1), dt = _bands(green=green, swir1=swir1)
    return _apply(K.normalized_difference, [green, swir1], [], dt, "mndwi",
                  "modified normalized difference water index")


def evi(blue, red, nir) -> xr.DataArray:
    """EVI = 2.5 (NIR - RED) / (NIR + 6 RED - 7.5 BLUE + 1) (seed 004 Table 1)."""
    (blue, red, nir), dt = _bands(blue=blue, red=red, nir=nir)
    return _apply(K.enhanced_vegetation_index, [blue, red, nir], [], dt, "evi", "enhanced vegetation index")


def savi(red, nir, *, soil_factor: float = 0.5) -> xr.DataArray:
    """SAVI = (1 + L)(NIR - RED) / (NIR + RED + L), L = ``soil_factor`` (0.5, seed 004 Table 1)."""
    (red, nir), dt = _bands(red=red, nir=nir)
    soil_factor = finite_scalar(soil_factor, "soil_factor")
    return _apply(K.soil_adjusted_vegetation_index, [red, nir], [soil_factor], dt, "savi",
                  "soil-adjusted vegetation index", extra={"soil_factor": soil_factor})


# ------------------------------------------------------------------ wetness and dryness
def _coefficient_of_labels(labels, k):
    """Coefficient ``k`` of each sensor label (NaN for an unknown label)."""
    flat = [WETNESS_COEFFICIENTS.get(_SENSOR_ALIASES.get(_norm(lab), ""), (np.nan,) * 6)[k]
            for lab in np.asarray(labels).ravel()]
    return np.asarray(flat, dtype=np.float64).reshape(np.shape(labels))


def _wetness_coefficients(sensor):
    """Six coefficients as floats (one sensor) or as DataArrays (a sensor per label)."""
    if isinstance(sensor, str):
        key = _SENSOR_ALIASES.get(_norm(sensor))
        if key is None:
            raise ValueError(
                f"sensor={sensor!r} is not known; use one of {sorted(WETNESS_COEFFICIENTS)} "
                f"(or a Landsat platform name such as 'landsat-8')."
            )
        return [float(c) for c in WETNESS_COEFFICIENTS[key]], key
    if isinstance(sensor, xr.DataArray):
        if sensor.chunks is None:  # labels at hand: check them now
            for lab in np.asarray(sensor.values).ravel():
                if _SENSOR_ALIASES.get(_norm(lab)) is None:
                    raise ValueError(f"sensor label {lab!r} is not known; use TM, ETM+, OLI or a Landsat platform name.")
        # a label -> coefficient lookup per label (a handful of time steps), lazy for dask labels
        coefs = [apply_kernel(_coefficient_of_labels, sensor, k, output_dtypes=[np.float64]).reset_coords(drop=True)
                 for k in range(6)]
        return coefs, "per " + ",".join(map(str, sensor.dims))
    raise TypeError(f"sensor must be a string or a DataArray of sensor names, got {type(sensor).__name__}.")


def wet(blue, green, red, nir, swir1, swir2, *, sensor="TM") -> xr.DataArray:
    """Tasseled-cap wetness (seed 000 Eqs. 3-5).

    ``sensor`` picks the coefficient set: "TM" (default: the study applies the TM set to
    every year for a consistent series), "ETM+" or "OLI"; platform names ("landsat-8")
    are accepted, and a DataArray of names (e.g. the cube's ``platform`` coordinate)
    gives a set per label.
    """
    bands, dt = _bands(blue=blue, green=green, red=red, nir=nir, swir1=swir1, swir2=swir2)
    coefs, key = _wetness_coefficients(sensor)
    return _apply(K.tasseled_cap_wetness, bands, coefs, dt, "wet", "tasseled-cap wetness",
                  extra={"sensor_coefficients": key})


def si(blue, red, nir, swir1) -> xr.DataArray:
    """SI = ((SWIR1+RED) - (NIR+BLUE)) / ((SWIR1+RED) + (NIR+BLUE)) (seed 000 Eq. 10)."""
    bands, dt = _bands(blue=blue, red=red, nir=nir, swir1=swir1)
    return _apply(K.soil_index, bands, [], dt, "si", "bare soil index")


def ibi(green, red, nir, swir1) -> xr.DataArray:
    """IBI, index-based built-up index (seed 000 Eq. 11)."""
    bands, dt = _bands(green=green, red=red, nir=nir, swir1=swir1)
    return _apply(K.index_based_built_up, bands, [], dt, "ibi", "index-based built-up index")


def ndbsi(blue, green, red, nir, swir1) -> xr.DataArray:
    """NDBSI = (SI + IBI) / 2, the RSEI dryness component (seed 000 Eq. 9)."""
    bands, dt = _bands(blue=blue, green=green, red=red, nir=nir, swir1=swir1)
    return _apply(K.ndbsi, bands, [], dt, "ndbsi", "normalized difference built-up and soil index")


# ------------------------------------------------------------------ land surface temperature
def lst(surface_temperature) -> xr.DataArray:
    """LST in degC from the Landsat C2 L2 surface-temperature band in kelvin (K - 273.15).

    A ``units`` attribute that says degC raises: the input is already converted.
    """
    (st,), dt = _bands(surface_temperature=surface_temperature)
    units = _norm(surface_temperature.attrs.get("units", "K"))
    if units in _CELSIUS:
        raise ValueError("surface_temperature has units degC; lst() expects the L2 surface-temperature band in kelvin.")
    if units not in _KELVIN:
        raise ValueError(f"surface_temperature has units {surface_temperature.attrs['units']!r}; expected kelvin ('K').")
    return _apply(K.kelvin_to_celsius, [st], [], dt, "lst", "land surface temperature", units="degC",
                  extra={"source": "Landsat C2 L2 surface temperature band"})


def emissivity(ndvi, *, ndvi_soil: float = 0.2, ndvi_veg: float = 0.5, eps_bare: float = 0.97,
               eps_full: float = 0.99, slope: float = 0.004, intercept: float = 0.986) -> xr.DataArray:
    """Land-surface emissivity by the NDVI threshold method (Sobrino et al. 2004).

    NDVI < ``ndvi_soil``: ``eps_bare``; NDVI > ``ndvi_veg``: ``eps_full``; in between
    Pv = ((NDVI - ndvi_soil)/(ndvi_veg - ndvi_soil))² and eps = slope·Pv + intercept.
    """
    (nd,), dt = _bands(ndvi=ndvi)
    vals = [finite_scalar(v, n) for v, n in ((ndvi_soil, "ndvi_soil"), (ndvi_veg, "ndvi_veg"),
            (eps_bare, "eps_bare"), (eps_full, "eps_full"), (slope, "slope"), (intercept, "intercept"))]
    if not vals[1] > vals[0]:
        raise ValueError(f"ndvi_veg ({ndvi_veg}) must be larger than ndvi_soil ({ndvi_soil}).")
    return _apply(K.emissivity_from_ndvi, [nd], vals, dt, "emissivity", "land surface emissivity",
                  extra={"method": "NDVI threshold (Sobrino et al. 2004)"})


_emissivity_from_ndvi = emissivity


def lst_from_radiance(radiance, *, sensor: str = "landsat8", k1: float | None = None,
                      k2: float | None = None, emissivity=None, ndvi=None, transmittance=1.0,
                      upwelling=0.0, downwelling=0.0) -> xr.DataArray:
    """LST (degC) from at-sensor thermal radiance by the radiative-transfer equation (seed 000 Eqs. 6-8).

    B_T = [L - R_up - tau (1 - eps) R_down] / (eps tau); LST = K2 / ln(1 + K1 / B_T) - 273.15.
    ``sensor`` picks K1/K2 ("landsat5", "landsat7", "landsat8", seed 000 Table 2) unless
    ``k1``/``k2`` are given.  ``emissivity`` is a number or DataArray; if None and
    ``ndvi`` is given it is :func:`emissivity` (NDVI threshold method); if both are None
    it is 1 (with tau = 1 and no path radiance this is the brightness temperature).
    ``transmittance``, ``upwelling``, ``downwelling`` (W m-2 sr-1 um-1) are scene values
    (numbers or DataArrays that broadcast).
    """
    (rad,), dt = _bands(radiance=radiance)
    if k1 is None or k2 is None:
        key = _THERMAL_ALIASES.get(_norm(sensor))
        if key is None:
            raise ValueError(f"sensor={sensor!r} is not known; use one of {sorted(THERMAL_CONSTANTS)} or pass k1= and k2=.")
        k1 = THERMAL_CONSTANTS[key][0] if k1 is None else k1
        k2 = THERMAL_CONSTANTS[key][1] if k2 is None else k2
    k1 = finite_scalar(k1, "k1")
    k2 = finite_scalar(k2, "k2")
    if emissivity is None:
        emissivity = _emissivity_from_ndvi(ndvi) if ndvi is not None else 1.0
    scene = []
    for value, name in ((emissivity, "emissivity"), (transmittance, "transmittance"),
                        (upwelling, "upwelling"), (downwelling, "downwelling")):
        if isinstance(value, xr.DataArray):
            require_float(value, name)
            scene.append(value.astype(np.float64))
        else:
            scene.append(finite_scalar(value, name))
    return _apply(K.lst_from_radiance, [rad], [*scene, k1, k2], dt, "lst", "land surface temperature",
                  units="degC", extra={"k1": k1, "k2": k2, "method": "radiative transfer equation (seed 000 Eqs. 6-8)"})


# ------------------------------------------------------------------ dataset entry point
# index -> (function, dataset variables in argument order)
_RECIPES: dict[str, tuple] = {
    "ndvi": (ndvi, ("red", "nir08")),
    "sr": (lambda red, nir: simple_ratio(ndvi(red, nir)).rename("sr"), ("red", "nir08")),
    "wet": (wet, ("blue", "green", "red", "nir08", "swir16", "swir22")),
    "si": (si, ("blue", "red", "nir08", "swir16")),
    "ibi": (ibi, ("green", "red", "nir08", "swir16")),
    "ndbsi": (ndbsi, ("blue", "green", "red", "nir08", "swir16")),
    "evi": (evi, ("blue", "red", "nir08")),
    "savi": (savi, ("red", "nir08")),
    "rvi": (rvi, ("red", "nir08")),
    "dvi": (dvi, ("red", "nir08")),
    "gndvi": (gndvi, ("green", "nir08")),
    "mndwi": (mndwi, ("green", "swir16")),
}
INDEX_NAMES = (*_RECIPES, "lst")


def spectral_indices(ds: xr.Dataset, names: Sequence[str] = ("ndvi", "wet", "ndbsi", "lst"), *,
                     sensor="TM", soil_factor: float = 0.5) -> xr.Dataset:
    """A Dataset of the requested indices from a harmonized Landsat reflectance Dataset.

    ``ds`` holds the bands ``blue green red nir08 swir16 swir22`` (reflectance) and, for
    ``lst``, ``lwir`` (the L2 surface-temperature band in kelvin, as ``cubeeco.open_cube``
    delivers) or ``lst`` (kelvin, or degC if its ``units`` attribute says so).  ``lst`` in
    the result is in degC.  ``sensor`` is passed to :func:`wet`; ``sensor="auto"`` uses
    the Dataset's ``platform`` coordinate (one sensor per time step).
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset of bands, got {type(ds).__name__}.")
    if isinstance(names, str):
        names = (names,)
    unknown = [n for n in names if n not in INDEX_NAMES]
    if unknown:
        raise ValueError(f"unknown index name(s) {unknown}; choose from {list(INDEX_NAMES)}.")
    if isinstance(sensor, str) and sensor == "auto":
        if "platform" not in ds.coords:
            raise ValueError("sensor='auto' needs a 'platform' coordinate in ds; pass sensor='TM', 'ETM+' or 'OLI'.")
        sensor = ds.coords["platform"]
    out = {}
    for name in names:
        if name == "lst":
            out[name] = _lst_from_dataset(ds)
            continue
        func, needs = _RECIPES[name]
        missing = [b for b in needs if b not in ds.data_vars]
        if missing:
            raise ValueError(f"index {name!r} needs band(s) {missing} in ds; it has {sorted(map(str, ds.data_vars))}.")
        args = [ds[b] for b in needs]
        if name == "wet":
            out[name] = func(*args, sensor=sensor)
        elif name == "savi":
            out[name] = func(*args, soil_factor=soil_factor)
        else:
            out[name] = func(*args)
    return xr.Dataset(out)


def _lst_from_dataset(ds: xr.Dataset) -> xr.DataArray:
    if "lwir" in ds.data_vars:
        return lst(ds["lwir"])
    if "lst" in ds.data_vars:
        units = _norm(ds["lst"].attrs.get("units", "K"))
        if units in _CELSIUS:
            return ds["lst"].copy().assign_attrs(units="degC", long_name="land surface temperature")
        return lst(ds["lst"])
    raise ValueError("index 'lst' needs the surface-temperature band 'lwir' (kelvin) or 'lst' in ds.")
