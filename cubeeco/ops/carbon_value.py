"""Carbon mass conversions (C, CO2, organic matter) and the value of a sink or a loss.

Study 003 (Wu, review of mine carbon sequestration, §10 of SCIENCE.md) values carbon at a
carbon-trading price of 56 yuan per ton; study 002 (Xu et al. 2024) converts carbon to
CO2 through organic matter.  Two routes from C to CO2 therefore exist:

* ``"stoichiometric"``: 1 g C = 44/12 g CO2 (molar masses; what carbon markets mean by
  t CO2, 3.667);
* ``"study002"``: 1 g C = 2.2 g organic matter (OM), 1 g OM = 1.63 g CO2 (Eq. 2), so
  1 g C = 3.586 g CO2 -- 2.2 % less.  VCS (``cubeeco.vcs``) is built on this route, so
  turning a VCS amount back into carbon must use it to recover NPP's carbon.

Organic matter is always tied to carbon by study 002's 2.2; OM <-> CO2 is 1.63 on the
study-002 route and (44/12)/2.2 on the stoichiometric one, so every conversion is a
product of one factor per step and round-trips exactly.

Units are mass strings: ``"<prefix>g <substance>"`` or tonnes, e.g. ``"g CO2"``,
``"Gg CO2"``, ``"t C"``, ``"Mt C"``, ``"kg OM"``; substances C, CO2 (CO2e), OM (organic
matter).  Prices: ``"<currency>/<mass unit>"``, e.g. ``"yuan/t CO2"``, ``"yuan/t C"``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import xarray as xr

from ..kernels.scale import VCS_CO2, VCS_ORGANIC_MATTER

C_TO_CO2_STOICHIOMETRIC = 44.0 / 12.0
C_TO_OM = VCS_ORGANIC_MATTER  # 2.2 g organic matter per g C (study 002)
OM_TO_CO2 = VCS_CO2  # 1.63 g CO2 per g organic matter (study 002)
ROUTES = {"stoichiometric": C_TO_CO2_STOICHIOMETRIC, "study002": C_TO_OM * OM_TO_CO2}

# study 003 values carbon storage "at a carbon trading price of 56 yuan/ton" (applied there to
# tonnes of carbon); markets quote per tonne CO2 -- so the price unit is always asked for
STUDY_003_PRICE = 56.0
STUDY_003_CURRENCY = "yuan"

# grams per unit; case matters: Mg (megagram = t) is not mg (milligram)
_MASS = {"mg": 1e-3, "g": 1.0, "kg": 1e3, "t": 1e6, "Mg": 1e6, "kt": 1e9, "Gg": 1e9, "Mt": 1e12, "Tg": 1e12,
         "Gt": 1e15, "Pg": 1e15, "ton": 1e6, "tonne": 1e6, "tons": 1e6, "tonnes": 1e6}
_SUBSTANCE = {"c": "C", "carbon": "C", "co2": "CO2", "co₂": "CO2", "co2e": "CO2", "co2eq": "CO2",
              "om": "OM", "organicmatter": "OM"}


def parse_mass_unit(unit: str) -> tuple[float, str]:
    """(grams per unit, substance "C" | "CO2" | "OM") of a mass unit such as ``"Gg CO2"``."""
    if not isinstance(unit, str):
        raise TypeError(f"a mass unit must be a string such as 'Gg CO2' or 't C', got {type(unit).__name__}.")
    text = unit.strip()
    mass, _, subst = text.partition(" ")
    if not subst:  # written together: "tC", "GgCO2"
        for k in sorted(_MASS, key=len, reverse=True):
            if text.startswith(k) and text[len(k):].lower() in _SUBSTANCE:
                mass, subst = k, text[len(k):]
                break
    key = subst.lower().replace(" ", "").replace("_", "")
    if mass not in _MASS or key not in _SUBSTANCE:
        raise ValueError(f"unknown mass unit {unit!r}; expected '<mass> <substance>' with mass in "
                         f"{sorted(_MASS)} and substance C, CO2 or OM (e.g. 'Gg CO2', 't C').")
    return _MASS[mass], _SUBSTANCE[key]


def _route(route: str) -> float:
    if route not in ROUTES:
        raise ValueError(f"route must be one of {sorted(ROUTES)}, got {route!r}.")
    return ROUTES[route]


def _per_gram_c(substance: str, route: str) -> float:
    """Grams of ``substance`` per gram of carbon."""
    return {"C": 1.0, "OM": C_TO_OM, "CO2": _route(route)}[substance]


def conversion_factor(from_unit: str, to_unit: str, *, route: str = "stoichiometric") -> float:
    """Multiply an amount in ``from_unit`` by this to get ``to_unit``."""
    g_from, s_from = parse_mass_unit(from_unit)
    g_to, s_to = parse_mass_unit(to_unit)
    _route(route)
    return g_from / g_to * _per_gram_c(s_to, route) / _per_gram_c(s_from, route)


def _scaled(amount, factor, units=None):
    if isinstance(amount, (pd.Series, pd.DataFrame, np.ndarray)):
        return amount * factor
    if isinstance(amount, xr.DataArray):
        out = amount * factor
        out.attrs = {**amount.attrs, **({"units": units} if units else {})}
        return out
    if isinstance(amount, (list, tuple)):
        return np.asarray(amount, dtype=np.float64) * factor
    try:
        return float(amount) * factor
    except (TypeError, ValueError):
        raise TypeError(f"amount must be a number, array, Series or DataArray, got {type(amount).__name__}.") from None


def convert(amount, from_unit: str, to_unit: str, *, route: str = "stoichiometric"):
    """``amount`` (number, array, Series, DataArray) from one mass unit to another."""
    return _scaled(amount, conversion_factor(from_unit, to_unit, route=route), to_unit)


def parse_price_unit(price_unit: str) -> tuple[str, str]:
    """(currency, mass unit) of ``"yuan/t CO2"`` or ``"yuan per t C"``."""
    if not isinstance(price_unit, str):
        raise TypeError(f"price_unit must be a string such as 'yuan/t CO2', got {type(price_unit).__name__}.")
    parts = re.split(r"\s*/\s*|\s+per\s+", price_unit.strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0]:
        raise ValueError(f"price_unit {price_unit!r} must read '<currency>/<mass unit>', e.g. 'yuan/t CO2'.")
    parse_mass_unit(parts[1])
    return parts[0], parts[1]


def carbon_value(amount, unit: str, *, price: float, price_unit: str, route: str = "stoichiometric"):
    """Value of a carbon amount at ``price`` per ``price_unit`` (currency of the price).

    ``amount`` (number, array, Series, DataArray) in mass ``unit`` is converted to the
    price's mass unit (``route`` decides C <-> CO2, see the module doc) and multiplied by
    the price; the value keeps the amount's sign (a loss valued as a positive cost when
    the loss is positive, as VCSD is).  Study 003's example: ``price=56,
    price_unit="yuan/t C"`` as the review applies it to carbon storage, or ``"yuan/t
    CO2"`` for a market price quoted per tonne CO2.
    """
    try:
        p = float(price)
    except (TypeError, ValueError):
        raise TypeError(f"price must be a number, got {type(price).__name__}.") from None
    if not math.isfinite(p) or p < 0:
        raise ValueError(f"price must be a finite, non-negative number, got {price!r}.")
    currency, mass_unit = parse_price_unit(price_unit)
    factor = conversion_factor(unit, mass_unit, route=route) * p
    return _scaled(amount, factor, currency)


def add_carbon_value(table: pd.DataFrame, *, price: float, price_unit: str, columns=("VCSD_Gg",),
                     route: str = "study002", suffix: str = "_value") -> pd.DataFrame:
    """A copy of ``table`` (e.g. ``VCSAccounting.by_zone``) with a value column per amount column.

    Each column's mass unit is read from ``table.attrs["units"]`` (set by
    ``cubeeco.ops.vcs.vcs_accounting``).  ``route`` defaults to ``"study002"``: the VCS
    amounts were made from carbon by Eq. 2, so the same factors take them back to carbon
    for a per-t-C price (no effect for a per-t-CO2 price).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}.")
    units = dict(table.attrs.get("units", {}))
    currency, _ = parse_price_unit(price_unit)
    out = table.copy()
    for col in columns:
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}; its columns are {list(table.columns)}.")
        if col not in units:
            raise ValueError(f"table.attrs['units'] does not give the unit of {col!r}; set it (e.g. 'Gg CO2').")
        name = f"{col}{suffix}"
        out[name] = carbon_value(table[col], units[col], price=price, price_unit=price_unit, route=route)
        units[name] = currency
    out.attrs = {**table.attrs, "units": units, "carbon_price": f"{float(price)} {price_unit}",
                 "carbon_route": route}
    return out
