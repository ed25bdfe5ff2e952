"""Plain numpy references for cubeeco.kernels.indices: float64 arithmetic, rounded to the input dtype."""

from __future__ import annotations

import numpy as np


def _f(x):
    return np.asarray(x, dtype=np.float64)


def _div(num, den):
    num, den = np.broadcast_arrays(_f(num), _f(den))
    out = np.full(num.shape, np.nan)
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


def _out(x, like):
    return np.asarray(x).astype(np.asarray(like).dtype)


def normalized_difference(a, b):
    with np.errstate(all="ignore"):
        return _out(_div(_f(a) - _f(b), _f(a) + _f(b)), a)


def simple_ratio(ndvi):
    with np.errstate(all="ignore"):
        return _out(_div(1 + _f(ndvi), 1 - _f(ndvi)), ndvi)


def ratio(a, b):
    with np.errstate(all="ignore"):
        return _out(_div(a, b), a)


def difference(a, b):
    with np.errstate(all="ignore"):
        return _out(_f(a) - _f(b), a)


def wetness(blue, green, red, nir, swir1, swir2, coefs):
    with np.errstate(all="ignore"):
        total = sum(c * _f(band) for c, band in zip(coefs, (blue, green, red, nir, swir1, swir2)))
    return _out(total, blue)


def _si64(blue, red, nir, swir1):
    return _div((_f(swir1) + _f(red)) - (_f(nir) + _f(blue)), (_f(swir1) + _f(red)) + (_f(nir) + _f(blue)))


def _ibi64(green, red, nir, swir1):
    t1 = _div(2 * _f(swir1), _f(swir1) + _f(nir))
    t2 = _div(_f(nir), _f(nir) + _f(red))
    t3 = _div(_f(green), _f(green) + _f(swir1))
    return _div(t1 - t2 - t3, t1 + t2 + t3)


def soil_index(blue, red, nir, swir1):
    with np.errstate(all="ignore"):
        return _out(_si64(blue, red, nir, swir1), blue)


def ibi(green, red, nir, swir1):
    with np.errstate(all="ignore"):
        return _out(_ibi64(green, red, nir, swir1), green)


def ndbsi(blue, green, red, nir, swir1):
    with np.errstate(all="ignore"):
        return _out((_si64(blue, red, nir, swir1) + _ibi64(green, red, nir, swir1)) / 2, blue)


def evi(blue, red, nir):
    with np.errstate(all="ignore"):
        return _out(2.5 * _div(_f(nir) - _f(red), _f(nir) + 6 * _f(red) - 7.5 * _f(blue) + 1), blue)


def savi(red, nir, soil_l=0.5):
    with np.errstate(all="ignore"):
        return _out((1 + soil_l) * _div(_f(nir) - _f(red), _f(nir) + _f(red) + soil_l), red)


def lst_from_kelvin(k):
    return _out(_f(k) - 273.15, k)



def emissivity(ndvi, ndvi_soil=0.2, ndvi_veg=0.5, eps_bare=0.97, eps_full=0.99, slope=0.004, intercept=0.986):
    x = _f(ndvi)
    pv = ((x - ndvi_soil) / (ndvi_veg - ndvi_soil)) ** 2
    out = np.where(x < ndvi_soil, eps_bare, np.where(x > ndvi_veg, eps_full, slope * pv + intercept))
    return _out(np.where(np.isnan(x), np.nan, out), ndvi)


def lst_from_radiance(radiance, eps, tau, up, down, k1, k2):
    with np.errstate(all="ignore"):
        eps, tau = _f(eps), _f(tau)
        b_t = _div(_f(radiance) - up - tau * (1 - eps) * down, eps * tau)
        b_t = np.where(b_t > 0, b_t, np.nan)
        lst = _div(np.full(b_t.shape, k2), np.log1p(_div(np.full(b_t.shape, k1), b_t))) - 273.15
    return _out(lst, radiance)
