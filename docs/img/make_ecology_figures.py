"""Make the figures of docs/ecology.md from a demo folder: python docs/img/make_ecology_figures.py DEMO_DIR"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import cubeeco  # noqa: E402

demo = Path(sys.argv[1])
store = demo / "cubeeco.zarr"
out = Path(__file__).parent
rsei = cubeeco.open_store(store, "rsei")["rsei"]
years = rsei.time.dt.year.values
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, i in zip(axes, (0, len(years) // 2, -1)):
    im = ax.imshow(rsei.isel(time=i).values, cmap="RdYlGn", vmin=0, vmax=1)
    ax.set_title(f"RSEI {years[i]}")
    ax.set_axis_off()
fig.colorbar(im, ax=axes, shrink=0.8)
fig.savefig(out / "ecology_rsei.png", dpi=60)

areas = cubeeco.open_table(store, "rsei_grade_areas")
fig, ax = plt.subplots(figsize=(7, 3.2))
for name, g in areas.groupby("name", sort=False):
    ax.plot(np.asarray(g["time"], "datetime64[Y]").astype(int) + 1970, g["share_pct"], marker="o", ms=3, label=name)
ax.set_ylabel("% of area")
ax.legend(fontsize=7)
ax.set_title("RSEI grade shares")
fig.tight_layout()
fig.savefig(out / "ecology_grades.png", dpi=60)

trend = cubeeco.open_store(store, "rsei_trend")
fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
tag = trend.attrs["periods"][-1]
axes[0].imshow(trend[f"class_{tag}"].where(trend[f"class_{tag}"] > -100).values, cmap="RdYlGn", vmin=-3, vmax=3)
axes[0].set_title(f"trend classes {tag}")
q = cubeeco.open_store(store, "rsei_significance")[f"q_{tag}"]
im = axes[1].imshow(q.values, cmap="viridis_r", vmin=0, vmax=0.2)
axes[1].set_title(f"BH q {tag}")
for ax in axes:
    ax.set_axis_off()
fig.colorbar(im, ax=axes[1], shrink=0.8)
fig.savefig(out / "ecology_trend.png", dpi=60)
