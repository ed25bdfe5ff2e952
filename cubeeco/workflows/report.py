"""The demo report: Markdown with maps and tables, figures as PNG beside it."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..redact import redact  # noqa: E402


def _extent(da):
    x, y = da.x.values, da.y.values
    dx = abs(x[1] - x[0]) / 2 if x.size > 1 else 15
    return [x[0] - dx, x[-1] + dx, y[-1] - dx, y[0] + dx]


def map_figure(path: Path, panels: list[tuple[str, object, dict]], mines=None, suptitle: str = "") -> Path:
    """A row of maps: (title, 2-D DataArray, imshow kwargs); mine outlines on top."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False)
    for ax, (title, da, kw) in zip(axes[0], panels):
        im = ax.imshow(np.asarray(da.values), extent=_extent(da), **kw)
        if mines is not None:
            mines.boundary.plot(ax=ax, color="black", linewidth=0.8)
        ax.set_title(redact(title), fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8, label=da.attrs.get("units", ""))
    if suptitle:
        fig.suptitle(redact(suptitle))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def series_figure(path: Path, series: dict[str, tuple], ylabel: str, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=redact(label))
    ax.set_ylabel(ylabel)
    ax.set_title(redact(title))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_markdown(path: Path, lines: list[str]) -> Path:
    """Write a report; a credential in any line (a source URL with its token) is redacted."""
    Path(path).write_text(redact("\n".join(lines)))
    return Path(path)


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "_(no rows)_\n"
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(out) + "\n"
