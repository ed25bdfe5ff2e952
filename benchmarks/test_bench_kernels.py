"""pytest-benchmark view of the trend kernels (not part of the test suite: testpaths = tests).

    python -m pytest benchmarks/test_bench_kernels.py --benchmark-only --benchmark-group-by=group

Every benchmark in a group sees the same float32 block (22 years, 10 % NaN), one thread, so
pytest-benchmark's min/mean columns compare directly; ``extra_info["px_per_s"]`` holds the
throughput.  bench_trend.py is the side-by-side table with dask, the peers and the floor ratio.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from benchmarks.bench_trend import make_cube
from benchmarks.peers import PEERS
from cubeeco.kernels import trend as kt

pytest.importorskip("pytest_benchmark")

N_PIXELS = 100_000
N_PEER = 200


@pytest.fixture(scope="module")
def block():
    cube, t = make_cube(N_PIXELS, 22, 0.1)
    Y = np.ascontiguousarray(cube.reshape(cube.shape[0], -1).T)
    kt.sen_mk(Y[:8], t)  # compile outside the timings
    kt.trend_all(Y[:8], t)
    return Y, t


def _run(benchmark, fn, n_px):
    benchmark.extra_info["pixels"] = n_px
    result = benchmark(fn)
    benchmark.extra_info["px_per_s"] = n_px / benchmark.stats.stats.min
    return result


@pytest.mark.benchmark(group="block of 100k px, one thread")
def test_sen_mk(benchmark, block):
    Y, t = block
    _run(benchmark, lambda: kt.sen_mk(Y, t), len(Y))


@pytest.mark.benchmark(group="block of 100k px, one thread")
def test_trend_all(benchmark, block):
    Y, t = block
    _run(benchmark, lambda: kt.trend_all(Y, t), len(Y))


@pytest.mark.benchmark(group="block of 100k px, one thread")
def test_floor_nanmean(benchmark, block):
    Y, t = block
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _run(benchmark, lambda: np.nanmean(Y, axis=1), len(Y))


@pytest.mark.benchmark(group=f"{N_PEER} px, one thread")
@pytest.mark.parametrize("peer", ["cubeeco", "pymannkendall", "numpy"])
def test_peer(benchmark, block, peer):
    Y, t = block
    sub = np.ascontiguousarray(Y[:N_PEER])
    fn = PEERS["sen_mk_cube"][peer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(sub[:4], t)
        _run(benchmark, lambda: fn(sub, t), len(sub))
