"""Tables in a run's store: rows keyed by mine, class, year, stratum, ...

A stage that produces tables stores each one as a subgroup of its own group
(``<store>/<stage>/<table>``, one 1-D array per column over the dimension ``row``), so a
table is fingerprinted, staged and committed with its stage like any raster group: it is
complete exactly when the stage's group is. The stage's group lists its tables in the
``cubeeco:tables`` attribute. Column units live in each column's ``units`` attribute and
come back in ``DataFrame.attrs["units"]``.

Every complete table is also exported as CSV beside the store, in
``<store>.tables/<table>.csv`` (a folder cubeeco marks as its own and rewrites). CSV is
for people and spreadsheets; the store is the reference.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from ..redact import redact, redact_obj

TABLES = "cubeeco:tables"          # group attribute: the names of the tables it holds
TABLE = "cubeeco:table"            # table subgroup attribute: its name
_COLUMNS = "cubeeco:columns"       # the column order
_CSV_MARK = ".cubeeco-tables"      # says a ``<store>.tables`` folder is ours
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_tables(tables, stage: str) -> dict[str, pd.DataFrame]:
    """A stage's tables as {name: DataFrame}; a TypeError/ValueError names what is wrong."""
    if isinstance(tables, pd.DataFrame):
        tables = {stage: tables}
    if not isinstance(tables, dict):
        raise TypeError(f"stage {stage!r} declares tables but returned a {type(tables).__name__}; "
                        f"return a pandas DataFrame or a dict of them.")
    for name, df in tables.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"stage {stage!r}: table name {name!r} must start with a letter and "
                             f"hold only letters, digits and '_'.")
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"stage {stage!r}: table {name!r} is a {type(df).__name__}, not a "
                            f"pandas DataFrame.")
        cols = [str(c) for c in _flat(df).columns]
        if len(set(cols)) != len(cols):
            raise ValueError(f"stage {stage!r}: table {name!r} repeats column names {cols}.")
        units = df.attrs.get("units", {})
        if not isinstance(units, dict):
            raise TypeError(f"stage {stage!r}: table {name!r} attrs['units'] must map column to units.")
    return tables


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Named index levels become columns (a table is rows, not a pandas index)."""
    if any(n is not None for n in df.index.names):
        df = df.reset_index()
    return df.reset_index(drop=True)


_MISSING = "cubeeco:missing_rows"   # rows of a text column that hold no value (None, NaN)


def _is_text(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or values.dtype.kind in "US"


def _column(values: pd.Series) -> np.ndarray:
    if _is_text(values):
        # text columns (mine names): fixed-width unicode, which every Zarr reader knows; a
        # credential in a text cell (an asset URL with its token) is never stored; a missing
        # value is "" here and listed in the column's missing rows
        return np.asarray(["" if pd.isna(v) else redact(str(v)) for v in values.astype(object)], dtype=str)
    if values.dtype.kind == "b":
        return values.to_numpy(dtype=bool)
    return values.to_numpy()


def write_tables(target: Path, group_path: str, tables: dict[str, pd.DataFrame], *,
                 description: dict | None = None) -> None:
    """Write ``tables`` as subgroups of the (staged) group ``target/group_path``; the
    group's ``cubeeco:tables`` attribute lists them. Replaces earlier tables of the group."""
    root = zarr.open_group(str(target), path=group_path, mode="a", zarr_format=2)
    for name, df in tables.items():
        flat = _flat(df)
        units = dict(df.attrs.get("units", {}))
        ds = xr.Dataset(attrs=redact_obj({TABLE: name, _COLUMNS: [str(c) for c in flat.columns],
                                          "description": str(df.attrs.get("description", "")),
                                          **(description or {})}))
        for col in flat.columns:
            da = xr.DataArray(_column(flat[col]), dims="row")
            if str(col) in units:
                da.attrs["units"] = str(units[str(col)])
            if _is_text(flat[col]) and flat[col].isna().any():
                da.attrs[_MISSING] = np.flatnonzero(flat[col].isna().to_numpy()).tolist()
            ds[str(col)] = da
        ds.to_zarr(str(target), group=f"{group_path}/{name}", mode="w", consolidated=False,
                   zarr_format=2)
    root.attrs[TABLES] = sorted(tables)


def tables_of(store, group: str) -> list[str]:
    try:
        g = zarr.open_group(str(store), path=group, mode="r", use_consolidated=False)
    except Exception:  # noqa: BLE001  (absent or unreadable group: no tables)
        return []
    return list(g.attrs.get(TABLES, []))


def list_tables(store) -> list[str]:
    """Names of the tables held by the complete groups of ``store``, sorted."""
    return sorted(_index(store))


def _index(store) -> dict[str, str]:
    from .store import is_complete, list_groups

    store = Path(store)
    out = {}
    for group in list_groups(store):
        if is_complete(store, group):
            for name in tables_of(store, group):
                out[name] = group
    return out


def open_table(store, name: str) -> pd.DataFrame:
    """The stored table ``name`` as a pandas DataFrame.

    ``df.attrs``: ``units`` ({column: units}), ``stage`` (the group that holds it) and
    ``description``. Raises FileNotFoundError naming the tables the store holds.
    """
    store = Path(store)
    if not store.exists():
        raise FileNotFoundError(f"no Zarr store at {store}.")
    index = _index(store)
    if name not in index:
        raise FileNotFoundError(f"{store} has no complete table {name!r} "
                                f"(tables: {', '.join(sorted(index)) or 'none'}).")
    group = index[name]
    ds = xr.open_zarr(store, group=f"{group}/{name}", consolidated=False)
    columns = list(ds.attrs.get(_COLUMNS, list(ds.data_vars)))
    df = pd.DataFrame({c: ds[c].values for c in columns})
    for c in columns:
        if _MISSING in ds[c].attrs:
            df[c] = df[c].astype(object)
            df.loc[ds[c].attrs[_MISSING], c] = None
    df.attrs = {"units": {c: ds[c].attrs["units"] for c in columns if "units" in ds[c].attrs},
                "stage": group, "table": name, "description": ds.attrs.get("description", "")}
    return df


def check_table_names(store, stage: str, tables) -> None:
    """A table name is one table of the store: a stage may not write a table another
    stage's complete group already holds (open_table could return only one of them)."""
    taken = {n: g for n, g in _index(store).items() if g != stage} if Path(store).exists() else {}
    clash = sorted(n for n in tables if n in taken)
    if clash:
        raise ValueError(f"stage {stage!r}: table(s) {clash} already exist in {store}, written by stage "
                         f"{taken[clash[0]]!r}; a table name is one table of a store, choose another.")


def prune_csv(store) -> list[Path]:
    """Delete the CSVs in ``<store>.tables`` (cubeeco's folder) of tables the store no longer holds."""
    folder = csv_path(store, "x").parent
    if not (folder / _CSV_MARK).exists():
        return []
    keep = set(list_tables(store)) if Path(store).exists() else set()
    gone = [f for f in folder.glob("*.csv") if f.stem not in keep]
    for f in gone:
        f.unlink()
    return gone


def csv_path(store, name: str) -> Path:
    """Where the CSV export of table ``name`` of ``store`` lies."""
    return Path(os.fspath(Path(store)) + ".tables") / f"{name}.csv"


def export_csv(store, names=None) -> list[Path]:
    """Write ``<store>.tables/<name>.csv`` for each complete table (all by default).

    A units row is not mixed into the data: units go into the header as ``column [units]``
    so a spreadsheet keeps numbers numeric. The folder is refused if cubeeco did not make it.
    """
    store = Path(store)
    folder = csv_path(store, "x").parent
    if folder.exists() and not (folder / _CSV_MARK).exists():
        raise FileExistsError(f"{folder} exists and was not made by cubeeco; move it away (cubeeco "
                              f"exports the tables of {store} there).")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _CSV_MARK).touch()
    written = []
    for name in (list_tables(store) if names is None else names):
        df = open_table(store, name)
        units = df.attrs["units"]
        out = df.rename(columns={c: f"{c} [{units[c]}]" for c in df.columns if units.get(c)})
        path = csv_path(store, name)
        tmp = path.with_name(path.name + ".tmp")
        out.to_csv(tmp, index=False)
        os.replace(tmp, path)      # a reader never sees half a CSV
        written.append(path)
    return written
