"""The section registry: what the report shows for a stage's group is one decorated function.

``@section("ndvi_trend", title="NDVI trend", order=30)`` registers ``func(page, group)``,
which adds maps, charts, tables and text to the :class:`~cubeeco.report.page.Page` for
the group ``group`` of the store. Every group, with a section or without, also gets its
variables summarised (:func:`summarise_group`) and its tables listed. A section that
raises becomes a visible "section failed" paragraph (the report is still written).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    name: str            # the group (stage) it shows
    func: Callable       # func(page, group) -> None
    title: str
    order: int = 100


SECTIONS: dict[str, Section] = {}


def section(name: str, *, title: str | None = None, order: int = 100):
    """Register ``func(page, group)`` as the report section of the group ``name``.

    Sections are shown by ``order`` (smaller first), then the groups without a section in
    stage order. Registering a name again replaces the earlier section.
    """

    def register(func):
        SECTIONS[name] = Section(name, func, title or name, order)
        return func

    return register


def ordered_groups(groups) -> list[str]:
    """``groups`` in report order: registered sections by ``order``, then the others in the
    stage registry's order, then any other group by name."""
    from ..pipeline.stages import STAGES

    stage_rank = {name: i for i, name in enumerate(STAGES)}
    groups = list(dict.fromkeys(groups))
    with_section = sorted((g for g in groups if g in SECTIONS), key=lambda g: (SECTIONS[g].order, g))
    rest = sorted((g for g in groups if g not in SECTIONS),
                  key=lambda g: (g not in stage_rank, stage_rank.get(g, 0), g))
    return [*with_section, *rest]


def title_of(group: str) -> str:
    sec = SECTIONS.get(group)
    return sec.title if sec else group


def summarise_group(page, group: str) -> None:
    """A table of the group's variables: name, long name, units, dims, dtype and the
    min / mean / max of a coarse overview (never the whole raster)."""
    import numpy as np
    import pandas as pd

    from .page import overview

    ds = page.open(group)
    rows = []
    for name, var in ds.data_vars.items():
        row = {"variable": str(name), "long name": str(var.attrs.get("long_name", "")),
               "units": str(var.attrs.get("units", "")),
               "dims": " × ".join(f"{d} {n}" for d, n in var.sizes.items()), "dtype": str(var.dtype),
               "min": None, "mean": None, "max": None}
        if var.dtype.kind in "iufb" and var.size:
            try:
                values = np.asarray(overview(var, page.summary_px).values, dtype="float64")
                values = values[np.isfinite(values)]
                nodata = var.attrs.get("nodata", var.attrs.get("_FillValue"))
                if nodata is not None:
                    values = values[values != float(nodata)]
                if values.size:
                    row.update(min=float(values.min()), mean=float(values.mean()), max=float(values.max()))
            except Exception as err:  # noqa: BLE001  (a variable that cannot be read is shown so)
                row["long name"] = f"{row['long name']} (unreadable: {err})".strip()
        rows.append(row)
    if not rows:
        page.text(f"The group {group} holds no variables.")
        return
    page.table(pd.DataFrame(rows), caption=f"Variables of {group} (min / mean / max of a coarse overview, "
                                           f"at most {page.summary_px} px on a side; nodata left out)")
