"""``write_report``: one self-contained static HTML page for a store (``report.html``).

The page holds the run's provenance (the groups' ``provenance:*`` attributes and the run
log ``<store>.log.jsonl``), one section per complete group in report order (registered
sections first, by ``order``; every group's variables summarised and its tables listed),
the caller's extra sections, and every table of the store with a link to its CSV.

Figures are PNG ``data:`` URIs, CSS is inline, there is no script, and a
Content-Security-Policy forbids the page to load anything. Every string is redacted.

Overwrite rule: a page is ours when it carries ``<meta name="generator" content="cubeeco
...">``; any other existing file at ``out`` is never overwritten (``FileExistsError``). A
page is written to a temporary file beside ``out`` and moved into place, so a report that
fails leaves the previous one as it was.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import uuid
import warnings
from pathlib import Path

from .. import __version__
from ..redact import redact
from .page import Page, esc
from .sections import SECTIONS, ordered_groups, summarise_group, title_of

GENERATOR = f"cubeeco {__version__}"
_OURS = re.compile(rb'<meta\s+name="generator"\s+content="cubeeco[\s"]')
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
_LOG_ROWS = 60
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d232a;
background:#fff;line-height:1.45}
header{background:#24412f;color:#fff;padding:1.2rem 2rem}
header h1{margin:0 0 .3rem 0;font-size:1.6rem}
header p{margin:0;opacity:.85;font-size:.9rem}
nav{padding:.6rem 2rem;border-bottom:1px solid #ddd;font-size:.9rem}
nav a{margin-right:1rem}
main{padding:0 2rem 2rem 2rem;max-width:1400px}
section{border-bottom:1px solid #e3e3e3;padding-bottom:1rem}
h2{margin-top:1.6rem;color:#24412f}
h2 code{font-size:.8em;color:#666;font-weight:normal}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#555}
div.table{overflow-x:auto;margin:.8rem 0}
table{border-collapse:collapse;font-size:.85rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #d8d8d8;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f4f2}
tr.units th{font-weight:normal;font-style:italic;color:#555}
td.num{text-align:right;font-variant-numeric:tabular-nums}
p.warn{color:#8a5300}
p.failed{color:#b00020;font-weight:600;border-left:4px solid #b00020;padding-left:.6rem}
p.small,footer{font-size:.8rem;color:#666}
details summary{cursor:pointer;color:#24412f}
footer{padding:1rem 2rem}
"""


class ReportWarning(UserWarning):
    """A part of the report could not be made (a section failed, boundaries unreadable)."""


def is_cubeeco_report(path) -> bool:
    """Whether the file at ``path`` is a page cubeeco wrote (its generator meta tag)."""
    try:
        with open(path, "rb") as f:
            return bool(_OURS.search(f.read(16384)))
    except OSError:
        return False


def check_report_target(out: Path) -> None:
    """Refuse a report path that is a folder or a file cubeeco did not write."""
    out = Path(out)
    if out.is_dir():
        raise FileExistsError(f"{out} is a folder; give the path of the report file (e.g. {out / 'report.html'}).")
    if out.exists() and not is_cubeeco_report(out):
        raise FileExistsError(f"{out} exists and was not written by cubeeco (no cubeeco generator tag); "
                              f"cubeeco never overwrites it: move it away or give another --out.")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def _warn(page: Page, message: str) -> None:
    page.warnings.append(redact(message))
    warnings.warn(redact(message), ReportWarning, stacklevel=3)


def _guarded(page: Page, label: str, func, *args) -> bool:
    """Run one section; an error becomes a visible paragraph and a warning."""
    try:
        func(page, *args)
        return True
    except Exception as err:  # noqa: BLE001  (a failing section never fails the report)
        text = f"section failed: {type(err).__name__}: {err}"
        page.text(text, cls="failed")
        _warn(page, f"report section {label!r}: {text}")
        return False


def _load_boundaries(boundaries, crs, page_warn):
    """Zone outlines in the grid's CRS. A file that cannot be read is an error (the caller
    asked for it); a GeoDataFrame that cannot be reprojected is a warning."""
    if boundaries is None:
        return None
    import geopandas as gpd

    if isinstance(boundaries, (str, os.PathLike)):
        path = Path(boundaries)
        if not path.exists():
            raise FileNotFoundError(f"boundaries file {path} does not exist.")
        try:
            boundaries = gpd.read_file(path)
        except Exception as err:  # noqa: BLE001  (pyogrio/fiona errors are not OSError)
            raise ValueError(f"boundaries file {path} cannot be read as vector data: {err}") from None
    try:
        gdf = boundaries if isinstance(boundaries, gpd.GeoDataFrame) else gpd.GeoDataFrame(boundaries)
        if crs is not None:
            gdf = gdf.set_crs(crs) if gdf.crs is None else gdf.to_crs(crs)
        return gdf
    except Exception as err:  # noqa: BLE001  (maps without outlines, said on the page)
        page_warn(f"zone outlines not drawn: {type(err).__name__}: {err}")
        return None


def _tables_api():
    """cubeeco.io.tables, or None where this version has no tables."""
    try:
        from ..io import tables
    except ImportError:
        return None
    return tables


def _href(target: Path, out: Path) -> str:
    from urllib.parse import quote

    try:
        rel = os.path.relpath(Path(target).resolve(), Path(out).resolve().parent)
    except ValueError:      # another drive (Windows)
        return Path(target).resolve().as_uri()
    return quote(Path(rel).as_posix())


def _collect_tables(store: Path, out: Path, page_warn) -> list[dict]:
    api = _tables_api()
    if api is None:
        return []
    try:
        names = list(api.list_tables(store))
    except Exception as err:  # noqa: BLE001
        page_warn(f"tables not listed: {type(err).__name__}: {err}")
        return []
    found = []
    for name in names:
        entry = {"name": name, "df": None, "stage": None, "description": "", "href": None, "error": None}
        try:
            df = api.open_table(store, name)
            entry.update(df=df, stage=df.attrs.get("stage"), description=df.attrs.get("description") or "")
        except Exception as err:  # noqa: BLE001
            entry["error"] = f"{type(err).__name__}: {err}"
        try:
            path = Path(api.csv_path(store, name))
            if path.is_file():
                entry["href"] = _href(path, out)
        except Exception:  # noqa: BLE001  (no CSV link)
            pass
        found.append(entry)
    return found


def _short(value, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _provenance_rows(store: Path, groups: list[str], complete: dict) -> tuple[list[dict], dict]:
    from ..io.store import read_provenance

    rows, versions = [], {}
    for g in groups:
        try:
            prov = read_provenance(store, g)
        except Exception as err:  # noqa: BLE001
            rows.append({"group": g, "complete": "yes" if complete[g] else "no", "other": f"unreadable: {err}"})
            continue
        config = prov.pop("config", None)
        ver = prov.pop("versions", None)
        if isinstance(ver, dict) and ver:
            versions.setdefault(json.dumps(ver, sort_keys=True), (ver, []))[1].append(g)
        items = prov.pop("stac_item_ids", None)
        missing = prov.pop("missing_assets", None)
        skipped = prov.pop("skipped_scenes", None)
        params = config.get("params", config) if isinstance(config, dict) and "params" in config else config
        rows.append({
            "group": g, "complete": "yes" if complete[g] else "no", "created": prov.pop("created", None),
            "cubeeco": ver.get("cubeeco") if isinstance(ver, dict) else None,
            "STAC items": len(items) if isinstance(items, list) else None,
            "parameters": _short(params) if params not in (None, "", {}) else None,
            "missing assets": len(missing) if isinstance(missing, (dict, list)) else missing,
            "skipped scenes": len(skipped) if isinstance(skipped, (dict, list)) else skipped,
            "other": "; ".join(f"{k}: {_short(v, 200)}" for k, v in prov.items()) or None,
        })
    return rows, versions


def _run_log(store: Path) -> tuple[list[dict], list[dict], int]:
    path = Path(str(store) + ".log.jsonl")
    stages, warns, bad = [], [], 0
    if not path.is_file():
        return stages, warns, bad
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(rec, dict):
                bad += 1
            elif rec.get("event") == "warning":
                warns.append({"time": rec.get("time"), "stage": rec.get("stage"), "message": rec.get("message")})
            elif "action" in rec:
                stages.append({"time": rec.get("time"), "run": rec.get("run"), "stage": rec.get("stage"),
                               "action": rec.get("action"), "seconds": rec.get("seconds"),
                               "regions": rec.get("regions"), "regions already done": rec.get("regions_already_done")})
    return stages, warns, bad


def _provenance_section(page: Page, store: Path, groups: list[str], complete: dict) -> None:
    import pandas as pd

    page.heading("Run provenance", anchor="provenance")
    page.text(f"Store: {store.name} — {len(groups)} group(s), "
              f"{sum(complete.values())} complete. Report by {GENERATOR}.")
    rows, versions = _provenance_rows(store, groups, complete)
    if rows:
        df = pd.DataFrame(rows).dropna(axis=1, how="all")
        page.table(df, caption="Groups and their provenance")
    for ver, used_by in versions.values():
        df = pd.DataFrame([{"package": k, "version": v} for k, v in sorted(ver.items())])
        page.html(f"<details><summary>Software versions of {esc(', '.join(used_by))}</summary>")
        page.table(df)
        page.html("</details>")
    stages, warns, bad = _run_log(store)
    if stages:
        df = pd.DataFrame(stages[-_LOG_ROWS:]).dropna(axis=1, how="all")
        df.attrs["units"] = {"seconds": "s"}
        more = f" (the last {_LOG_ROWS} of {len(stages)})" if len(stages) > _LOG_ROWS else ""
        page.table(df, caption=f"Run log: stages{more}")
    if warns:
        df = pd.DataFrame(warns[-_LOG_ROWS:]).dropna(axis=1, how="all")
        page.table(df, caption=f"Run log: warnings ({len(warns)})")
    if bad:
        page.note(f"The run log {store.name}.log.jsonl has {bad} unreadable line(s).")
    if not stages and not warns:
        page.text("No run log beside the store (groups written without `cubeeco run`).", cls="small")


def _group_section(page: Page, group: str, tables: list[dict]) -> None:
    from ..pipeline.stages import STAGES

    page.html(f'<section id="group-{html.escape(_slug(group))}">')
    page.html(f"<h2>{esc(title_of(group))} <code>{esc(group)}</code></h2>")
    if group in STAGES and STAGES[group].description:
        page.text(STAGES[group].description, cls="small")
    sec = SECTIONS.get(group)
    if sec is not None:
        _guarded(page, group, sec.func, group)
    page.html("<details open>" if sec is None else "<details>")
    page.html("<summary>Variables</summary>")
    _guarded(page, f"{group} (variables)", summarise_group, group)
    page.html("</details>")
    own = [t for t in tables if t["stage"] == group]
    if own:
        items = "".join(f'<li><a href="#table-{html.escape(_slug(t["name"]))}">{esc(t["name"])}</a>'
                        + (f" — {esc(t['description'])}" if t["description"] else "") + "</li>" for t in own)
        page.html(f"<p>Tables of this stage:</p><ul>{items}</ul>")
    page.html("</section>")


def _tables_section(page: Page, tables: list[dict]) -> None:
    page.html('<section id="tables">')
    page.heading("Tables")
    for t in tables:
        anchor = f"table-{_slug(t['name'])}"
        caption = t["name"] + (f" ({t['stage']})" if t["stage"] else "") + \
            (f": {t['description']}" if t["description"] else "")
        if t["df"] is None:
            page.html(f'<p id="{html.escape(anchor)}" class="failed">table {esc(t["name"])} could not be read: '
                      f'{esc(t["error"])}'
                      + (f' (<a href="{esc(t["href"])}">CSV</a>)' if t["href"] else "") + "</p>")
            continue
        try:
            page.table(t["df"], caption=caption, csv_href=t["href"], anchor=anchor)
        except Exception as err:  # noqa: BLE001
            page.html(f'<p id="{html.escape(anchor)}" class="failed">table {esc(t["name"])} failed: {esc(err)}</p>')
    page.html("</section>")


def _summary_table(page: Page, summary: dict) -> None:
    import pandas as pd

    rows = [{"": str(k), "value": v if isinstance(v, (int, float, str)) or v is None else _short(v)}
            for k, v in summary.items()]
    page.table(pd.DataFrame(rows, columns=["", "value"]), caption="Summary")


def _redact_page(text: str) -> str:
    """Redact everything but the embedded images (whose base64 is not text)."""
    parts, uris = _DATA_URI.split(text), _DATA_URI.findall(text)
    out = [redact(parts[0])]
    for uri, part in zip(uris, parts[1:]):
        out += [uri, redact(part)]
    return "".join(out)


def _document(page: Page, title: str, nav: list[tuple[str, str]], created: str) -> str:
    links = "".join(f'<a href="#{html.escape(a)}">{esc(t)}</a>' for a, t in nav)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta name="generator" content="{html.escape(GENERATOR)}">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<header><h1>{esc(title)}</h1><p>Written {esc(created)} by {esc(GENERATOR)} from "
        f"{esc(page.store.name)}</p></header>",
        f"<nav>{links}</nav>", "<main>", page.render(), "</main>",
        f"<footer>{esc(GENERATOR)} · {esc(created)}</footer>", "</body>", "</html>", ""])


def _write_atomically(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        check_report_target(out)      # a foreign file that appeared meanwhile is still not ours to replace
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_report(store, out=None, *, title: str | None = None, boundaries=None, extra_sections=(),
                 summary: dict | None = None) -> Path:
    """Write the HTML report of ``store``; returns its path.

    ``out`` defaults to ``report.html`` beside the store (in the store's folder's parent).
    ``boundaries``: zone outlines drawn on every map (a GeoDataFrame or a path geopandas
    reads), reprojected to the grid's CRS. ``extra_sections``: callables ``f(page)`` whose
    content follows the stage sections. ``summary``: a dict shown as a small table at the top.

    Raises ``FileExistsError`` when ``out`` exists and is not a cubeeco report, and
    ``FileNotFoundError`` when ``store`` is not a Zarr store. A failing section becomes a
    "section failed" paragraph and a :class:`ReportWarning`.
    """
    from ..io.store import is_complete, is_zarr_store, list_groups
    from . import builtin, builtin_carbon, builtin_ecology, builtin_landscape  # noqa: F401  (register the built-in stages' sections)

    store = Path(store)
    if not is_zarr_store(store):
        raise FileNotFoundError(f"no Zarr store at {store}.")
    out = Path(out) if out is not None else store.parent / "report.html"
    check_report_target(out)

    groups = list_groups(store)
    complete = {g: is_complete(store, g) for g in groups}
    shown = ordered_groups([g for g in groups if complete[g]])
    title = title or f"cubeeco report — {store.name}"
    page = Page(store, title=title)

    crs = None
    for g in shown:
        try:
            crs = page.open(g).rio.crs
        except Exception:  # noqa: BLE001
            crs = None
        if crs is not None:
            break
    page.boundaries = _load_boundaries(boundaries, crs, lambda m: _warn(page, m))

    created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    nav = [("provenance", "Provenance")]
    if summary:
        _summary_table(page, summary)
    _provenance_section(page, store, groups, complete)
    incomplete = [g for g in groups if not complete[g]]
    if incomplete:
        page.note(f"Incomplete group(s), not shown (their writer did not finish): {', '.join(incomplete)}.")
    tables = _collect_tables(store, out, lambda m: _warn(page, m))
    for g in shown:
        nav.append((f"group-{_slug(g)}", title_of(g)))
        _group_section(page, g, tables)
    for i, func in enumerate(extra_sections or ()):
        label = getattr(func, "__name__", f"extra {i + 1}")
        page.html(f'<section id="extra-{i + 1}">')
        _guarded(page, label, func)
        page.html("</section>")
    if tables:
        nav.append(("tables", "Tables"))
        _tables_section(page, tables)

    _write_atomically(out, _redact_page(_document(page, title, nav, created)))
    return out
