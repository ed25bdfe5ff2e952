"""Class-code lookups for the carbon-pool model (InVEST Carbon and beyond): plain numba.

The ops layer (:mod:`cubeeco.ops.invest`) maps every pixel's LULC code to a row of a
small density table.  Both helpers walk a flat block once; the caller allocates outputs
(helpers compile without the NRT, see ``_gufunc``).
"""

from __future__ import annotations

import numpy as np

from ._gufunc import jit

NODATA_INDEX = -1  # the pixel is nodata
ABSENT_INDEX = -2  # a valid code that the table lacks


@jit
def _code_index(codes_in, table, nodata, has_nodata, out):
    # binary search in the sorted code table: the table is tiny (tens of classes) and
    # stays in L1, so this beats a dense code -> row array for sparse / negative codes
    k = table.size
    for i in range(codes_in.size):
        v = codes_in[i]
        if has_nodata and v == nodata:
            out[i] = NODATA_INDEX
            continue
        lo = 0
        hi = k
        while lo < hi:
            mid = (lo + hi) >> 1
            if table[mid] < v:
                lo = mid + 1
            else:
                hi = mid
        if lo < k and table[lo] == v:
            out[i] = lo
        else:
            out[i] = ABSENT_INDEX


def code_index(codes, table, nodata=0, has_nodata=False):
    """Row of each code in the sorted int64 ``table``; -1 nodata, -2 absent (int32, same shape)."""
    flat = np.ascontiguousarray(codes).reshape(-1).astype(np.int64, copy=False)
    out = np.empty(flat.size, dtype=np.int32)
    _code_index(flat, np.ascontiguousarray(table, dtype=np.int64), np.int64(nodata), bool(has_nodata), out)
    return out.reshape(np.shape(codes))


@jit
def _gather(index, values, out):
    nan = np.nan
    for i in range(index.size):
        j = index[i]
        out[i] = values[j] if j >= 0 else nan


def gather(index, values):
    """``values[index]`` with NaN where index < 0 (dtype of ``values``, shape of ``index``)."""
    flat = np.ascontiguousarray(index).reshape(-1)
    values = np.ascontiguousarray(values)
    out = np.empty(flat.size, dtype=values.dtype)
    _gather(flat, values, out)
    return out.reshape(np.shape(index))
