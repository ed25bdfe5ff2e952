"""The page the report's sections write into: maps, charts, tables and text, as HTML.

Figures are drawn with matplotlib (Agg) and embedded as base64 PNG ``data:`` URIs, so
the page is one file with no external resource. A map reads a strided overview of each
raster (at most ``max_px`` pixels on a side) before loading anything, so a large raster
is never loaded whole. Every string that reaches the page is redacted
(:func:`cubeeco.redact.redact`) and HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..redact import redact

MAX_PX = 800          # a map panel's overview: at most this many pixels on a side
SUMMARY_PX = 256      # the variable summary's overview
DPI = 90


def esc(value) -> str:
    """``value`` as text for HTML: redacted, then escaped."""
    return html.escape(redact("" if value is None else str(value)))


def overview(da, max_px: int = MAX_PX):
    """A lazy strided view of ``da`` with at most ``max_px`` pixels along y and x
    (nearest neighbour: class codes and years stay what they are)."""
    sizes = [da.sizes[d] for d in ("y", "x") if d in da.dims]
    if not sizes:
        return da
    step = max(1, math.ceil(max(sizes) / max(1, int(max_px))))
    if step == 1:
        return da
    return da.isel({d: slice(None, None, step) for d in ("y", "x") if d in da.dims})


def masked(da):
    """``da`` with its integer nodata (``nodata`` / ``_FillValue`` attr) as NaN, for means,
    colour ranges and continuous maps (a class raster keeps its codes: do not use it there)."""
    nodata = da.attrs.get("nodata", da.attrs.get("_FillValue"))
    if da.dtype.kind in "iu" and nodata is not None:
        return da.where(da != nodata)
    return da


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _extent(da):
    x, y = np.asarray(da["x"].values, float), np.asarray(da["y"].values, float)
    dx = abs(x[1] - x[0]) if x.size > 1 else 1.0
    dy = abs(y[1] - y[0]) if y.size > 1 else dx
    return [x.min() - dx / 2, x.max() + dx / 2, y.min() - dy / 2, y.max() + dy / 2]


def _map_array(da, max_px: int):
    """The 2-D (y, x) overview of ``da``, loaded, north up."""
    da = overview(da, max_px)
    extra = [d for d in da.dims if d not in ("y", "x") and da.sizes[d] == 1]
    if extra:
        da = da.isel({d: 0 for d in extra}, drop=True)
    if da.ndim != 2:
        raise ValueError(f"not a 2-D raster (dims {', '.join(map(str, da.dims)) or 'none'})")
    if {"y", "x"} <= set(da.dims):
        da = da.transpose("y", "x")
    da = da.load()
    if "y" in da.dims and da.sizes["y"] > 1 and float(da.y[0]) < float(da.y[-1]):
        da = da.isel(y=slice(None, None, -1))
    return da


def _format_number(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return "–" if math.isnan(v) else str(v)
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e6 or a < 1e-4:
            return f"{v:.3e}"
        if v.is_integer():
            return str(int(v))
        if a < 1:
            return f"{v:.4g}"                  # 4 significant digits, no trailing zeros
        digits = max(0, 3 - int(math.floor(math.log10(a))))
        return f"{v:.{digits}f}"
    return str(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


class Page:
    """An HTML page under construction; sections add to it with the methods below."""

    def __init__(self, store, *, title: str = "cubeeco report", boundaries=None, max_px: int = MAX_PX,
                 summary_px: int = SUMMARY_PX):
        self.store = Path(store)
        self.title = title
        self.boundaries = boundaries       # GeoDataFrame in the grid's CRS, or None
        self.max_px = max_px
        self.summary_px = summary_px
        self.parts: list[str] = []
        self.warnings: list[str] = []
        self._open: dict = {}
        self._n = 0

    # -- data -----------------------------------------------------------------------------
    def open(self, group: str):
        """The store's group ``group`` as a lazy Dataset (opened once)."""
        if group not in self._open:
            from ..io.store import open_store

            self._open[group] = open_store(self.store, group)
        return self._open[group]

    def var(self, group: str, name: str):
        """The variable ``name`` of ``group`` (lazy), or None when the group lacks it."""
        ds = self.open(group)
        return ds[name] if name in ds.data_vars else None

    def zone_mask(self, da):
        """A boolean (y, x) array: True inside a zone of :attr:`boundaries` (None without any)."""
        if self.boundaries is None or len(self.boundaries) == 0 or not {"y", "x"} <= set(da.dims):
            return None
        from affine import Affine
        from rasterio.features import geometry_mask

        x0, x1, y0, y1 = _extent(da)
        transform = Affine((x1 - x0) / da.sizes["x"], 0, x0, 0, -(y1 - y0) / da.sizes["y"], y1)
        geoms = [g for g in self.boundaries.geometry if g is not None and not g.is_empty]
        if not geoms:
            return None
        mask = geometry_mask(geoms, out_shape=(da.sizes["y"], da.sizes["x"]), transform=transform, invert=True)
        if da.sizes["y"] > 1 and float(da.y[0]) < float(da.y[-1]):
            mask = mask[::-1]
        return mask

    # -- content --------------------------------------------------------------------------
    def html(self, markup: str) -> None:
        """Raw HTML (redacted; the caller escapes what needs it)."""
        self.parts.append(redact(str(markup)))

    def text(self, text: str, *, cls: str | None = None) -> None:
        """A paragraph of plain text (escaped)."""
        attr = f' class="{html.escape(cls)}"' if cls else ""
        self.parts.append(f"<p{attr}>{esc(text)}</p>")

    def heading(self, text: str, level: int = 2, anchor: str | None = None) -> None:
        level = min(max(int(level), 1), 6)
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        self.parts.append(f"<h{level}{ident}>{esc(text)}</h{level}>")

    def note(self, text: str) -> None:
        """A warning shown on the page (and kept in :attr:`warnings`)."""
        self.warnings.append(redact(str(text)))
        self.text(text, cls="warn")

    def figure(self, fig, title: str = "", caption: str | None = None) -> str:
        """Embed a matplotlib figure (closed afterwards); returns its data URI."""
        uri = _png_uri(fig)
        cap = caption if caption is not None else title
        self.parts.append(f'<figure><img alt="{esc(title)}" src="{uri}">'
                          + (f"<figcaption>{esc(cap)}</figcaption>" if cap else "") + "</figure>")
        return uri

    def map(self, title: str, panels, *, caption: str | None = None, boundaries: bool = True,
            max_px: int | None = None, ncols: int = 3):
        """A row (or grid) of maps, one per panel ``(title, 2-D DataArray, imshow kwargs)``.

        Each raster is read as an overview of at most ``max_px`` pixels on a side; zone
        outlines (:attr:`boundaries`) are drawn on top; the colorbar is labelled with the
        variable's ``units``. A panel whose array is None or not 2-D is skipped (named in the
        caption). ``categories={code: label or (label, colour)}`` in a panel's kwargs draws a
        class map with a legend instead of a colorbar. Returns the data URI, or None when no
        panel could be drawn.
        """
        max_px = max_px or self.max_px
        ready, skipped = [], []
        for panel in panels:
            ptitle, da, kw = (tuple(panel) + ({},))[:3]
            if da is None:
                skipped.append(f"{ptitle} (no data)")
                continue
            try:
                ready.append((ptitle, _map_array(da, max_px), dict(kw or {})))
            except Exception as err:  # noqa: BLE001  (one bad panel does not lose the others)
                skipped.append(f"{ptitle} ({err})")
        note = f" Skipped: {'; '.join(skipped)}." if skipped else ""
        if not ready:
            self.text(f"{title}: nothing to map.{note}", cls="warn")
            return None
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator, ScalarFormatter

        plt = _plt()
        n = len(ready)
        ncols = max(1, min(n, ncols))
        nrows = math.ceil(n / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.2 * nrows), squeeze=False)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        for ax, (ptitle, da, kw) in zip(axes.flat, ready):
            georef = {"y", "x"} <= set(da.dims)
            extent = _extent(da) if georef else None
            categories = kw.pop("categories", None)
            values = np.asarray(da.values)
            if categories:
                codes = list(categories)
                labels = {c: (v[0] if isinstance(v, (tuple, list)) else v) for c, v in categories.items()}
                default = _plt().get_cmap("tab20")
                colours = {c: (v[1] if isinstance(v, (tuple, list)) and len(v) > 1 else default(i % 20))
                           for i, (c, v) in enumerate(categories.items())}
                index = np.full(values.shape, np.nan)
                for i, code in enumerate(codes):
                    index[values == code] = i
                present = [c for c in codes if np.any(values == c)] or codes
                ax.imshow(index, extent=extent, cmap=ListedColormap([colours[c] for c in codes]),
                          vmin=-0.5, vmax=len(codes) - 0.5, interpolation="nearest")
                ax.legend(handles=[Patch(facecolor=colours[c], edgecolor="0.4", label=redact(str(labels[c])))
                                   for c in present],
                          loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
            else:
                kw.setdefault("interpolation", "nearest")
                if values.dtype.kind not in "f":
                    nodata = da.attrs.get("nodata", da.attrs.get("_FillValue"))
                    values = values.astype("float64")
                    if nodata is not None:      # an integer layer's nodata is no value
                        values[values == float(nodata)] = np.nan
                finite = values[np.isfinite(values)]
                if finite.size and finite.min() == finite.max() and not {"vmin", "vmax", "norm"} & set(kw):
                    kw["vmin"], kw["vmax"] = finite.min() - 1, finite.max() + 1   # one value: centred
                im = ax.imshow(values, extent=extent, **kw)
                cb = fig.colorbar(im, ax=ax, shrink=0.8, label=redact(str(da.attrs.get("units", ""))))
                if finite.size and np.all(finite == np.round(finite)):
                    # whole numbers (years, counts): whole-number ticks, no offset
                    cb.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                    cb.ax.yaxis.set_major_formatter(ScalarFormatter(useOffset=False))
            if georef and boundaries and self.boundaries is not None and len(self.boundaries):
                self.boundaries.boundary.plot(ax=ax, color="black", linewidth=0.8)
                ax.set_xlabel("")       # geopandas labels the axes with the CRS's units
                ax.set_ylabel("")
                ax.set_xlim(extent[0], extent[1])
                ax.set_ylim(extent[2], extent[3])
            ax.set_title(redact(str(ptitle)), fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        return self.figure(fig, title, (caption if caption is not None else title) + note)

    def chart(self, title: str, series: Mapping, *, xlabel: str = "", ylabel: str = "",
              caption: str | None = None):
        """A line chart: ``series`` maps a label to a 1-D DataArray (x: its coordinate; a
        time axis of one value a year is shown as years) or to ``(x, y)``. Returns the
        data URI, or None when there is nothing to draw."""
        lines = []
        for label, s in series.items():
            if s is None:
                continue
            if hasattr(s, "dims"):
                # size-1 dims go, but a one-step series keeps its own axis (one point)
                keep = s.dims[0] if s.ndim == 1 else None
                s = s.squeeze([d for d in s.dims if s.sizes[d] == 1 and d != keep], drop=True)
                if s.ndim != 1:
                    continue
                s = s.load()
                x = np.asarray(s[s.dims[0]].values)
                if x.dtype.kind == "M":
                    years = x.astype("datetime64[Y]").astype(int) + 1970
                    if len(set(years)) == len(years):
                        x = years
                y = np.asarray(s.values, dtype="float64")
            else:
                x, y = (np.asarray(v) for v in s)
            if np.size(y):
                lines.append((label, x, y))
        if not lines:
            self.text(f"{title}: no series to draw.", cls="warn")
            return None
        plt = _plt()
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        for label, x, y in lines:
            ax.plot(x, y, marker="o", ms=3, label=redact(str(label)))
        ax.set_xlabel(redact(xlabel))
        ax.set_ylabel(redact(ylabel))
        ax.set_title(redact(title), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return self.figure(fig, title, caption)

    def table(self, df, caption: str = "", csv_href: str | None = None, *, max_rows: int = 200,
              anchor: str | None = None) -> None:
        """An HTML table of ``df``: numbers formatted, a units row from ``df.attrs["units"]``
        ({column: units}), at most ``max_rows`` rows (the CSV, if linked, holds them all)."""
        import pandas as pd

        units = dict(df.attrs.get("units") or {})
        if not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        n = len(df)
        shown = df.head(max_rows)
        cols = [str(c) for c in shown.columns]
        numeric = {c: all(_is_number(v) or v is None or (isinstance(v, float) and math.isnan(v))
                          for v in shown[c0].tolist()) and len(shown) > 0
                   for c, c0 in zip(cols, shown.columns)}
        ident = f' id="{html.escape(anchor)}"' if anchor else ""
        out = [f'<div class="table"{ident}><table>']
        link = f' <a href="{esc(csv_href)}">CSV</a>' if csv_href else ""
        if caption or link:
            out.append(f"<caption>{esc(caption)}{link}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>")
        if any(units.get(c0) for c0 in df.columns):
            out.append('<tr class="units">' + "".join(f"<th>{esc(units.get(c0, ''))}</th>"
                                                       for c0 in shown.columns) + "</tr>")
        out.append("</thead><tbody>")
        for row in shown.itertuples(index=False, name=None):
            cells = []
            for c, v in zip(cols, row):
                cls = ' class="num"' if numeric[c] else ""
                try:
                    missing = v is None or (not isinstance(v, str) and bool(pd.isna(v)))
                except (TypeError, ValueError):
                    missing = False
                cells.append(f"<td{cls}>{'–' if missing else esc(_format_number(v))}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        if n > len(shown):
            out.append(f'<p class="small">First {len(shown)} of {n} rows'
                       + (" (all of them in the CSV)." if csv_href else ".") + "</p>")
        out.append("</div>")
        self.parts.append("".join(out))

    def render(self) -> str:
        return "\n".join(self.parts)
