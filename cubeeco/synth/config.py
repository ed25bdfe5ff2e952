"""Parameters of a synthetic coal base, and the named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..io.grid import Grid

# Shendong coal base, seed 002: 18,393.7 km^2; a square of the same area at 30 m.
SHENDONG_AREA_KM2 = 18_393.7


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic coal base (same config + seed = same bytes).

    The default location sits in UTM zone 49N (EPSG:32649) near the Shendong /
    Ordos coal fields; ``origin`` is the north-west corner in metres and must sit at
    15 m modulo 30 m, where USGS Collection 2 puts every pixel corner (x0 = 518685 in a
    real ``proj:transform``): a loader that snaps to multiples of 30 m shows up in tests.
    """

    seed: int = 42
    origin: tuple[float, float] = (399_975.0, 4_350_015.0)
    width_px: int = 500
    height_px: int = 500
    years: tuple[int, int] = (2000, 2024)          # inclusive
    scenes_per_season: int = 3                     # June-September acquisitions per year
    cloudy_scenes_per_year: int = 1                # of those, how many carry clouds
    off_season_scenes: int = 0                     # extra April/October scenes (to be filtered out)
    # years with one more acquisition in each month outside June-September (Jan-May,
    # Oct-Dec) for monthly models (CASA): winter snow, cloudy months; the June-September
    # scenes, and so the annual composites, stay exactly as without them
    monthly_years: tuple = ()
    n_mines: int = 4
    # each mine's pit and dump advance over this many years (inclusive range, drawn per
    # mine); (1, 1) opens a whole footprint in one year, as before issue 12
    mine_advance_years: tuple = (3, 6)
    n_stations: int = 5
    wrs_path_row: tuple[int, int] = (127, 33)
    greening_per_year: float = 0.004               # regional trend in vegetation cover
    warming_per_year: float = 0.03                 # degC per year
    modis: bool = True
    extras: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.years[1] < self.years[0]:
            raise ValueError(f"years must be (first, last) with last >= first, got {self.years}.")
        if self.width_px < 32 or self.height_px < 32:
            raise ValueError("width_px and height_px must be at least 32 pixels.")
        if self.cloudy_scenes_per_year > self.scenes_per_season:
            raise ValueError("cloudy_scenes_per_year cannot exceed scenes_per_season.")
        adv = tuple(self.mine_advance_years) if isinstance(self.mine_advance_years, (tuple, list)) else ()
        if (len(adv) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in adv)
                or not 1 <= adv[0] <= adv[1]):
            raise ValueError(f"mine_advance_years must be (fewest, most) whole years with "
                             f"1 <= fewest <= most, e.g. (3, 6); got {self.mine_advance_years!r}.")
        object.__setattr__(self, "mine_advance_years", adv)
        try:
            monthly = tuple(self.monthly_years)
            whole = all(not isinstance(y, bool) and float(y) == int(y) for y in monthly)
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise ValueError(f"monthly_years must be a sequence of whole years, e.g. (2010, 2020); "
                             f"got {self.monthly_years!r}.")
        if any(not self.years[0] <= y <= self.years[1] for y in monthly) or len(set(monthly)) != len(monthly):
            raise ValueError(f"monthly_years {self.monthly_years!r} must be distinct years within "
                             f"years {self.years}.")
        object.__setattr__(self, "monthly_years", tuple(sorted(int(y) for y in monthly)))
        if any(float(v) % 30 != 15 for v in self.origin):
            raise ValueError(f"origin {self.origin} must sit at 15 m modulo 30 m, like every USGS "
                             f"Collection 2 pixel corner (e.g. (399975, 4350015)).")

    @property
    def grid(self) -> Grid:
        x0, y0 = self.origin
        return Grid(32649, 30.0, (x0, y0 - 30.0 * self.height_px, x0 + 30.0 * self.width_px, y0))

    @property
    def year_list(self) -> list[int]:
        return list(range(self.years[0], self.years[1] + 1))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["origin"] = list(self.origin)
        d["years"] = list(self.years)
        d["wrs_path_row"] = list(self.wrs_path_row)
        d["monthly_years"] = list(self.monthly_years)
        d["mine_advance_years"] = list(self.mine_advance_years)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"synth config: unknown key(s) {sorted(unknown)}; known: {sorted(known)}.")
        d = dict(d)
        for k in ("origin", "years", "wrs_path_row", "monthly_years", "mine_advance_years"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def _shendong_side_px() -> int:
    return round((SHENDONG_AREA_KM2 * 1e6) ** 0.5 / 30.0)


PRESETS: dict[str, SynthConfig] = {
    # about 15 x 15 km, 25 years, 3 scenes a season, monthly scenes in a TM and an OLI year
    # (CASA): the README's demo
    "demo": SynthConfig(monthly_years=(2010, 2020)),
    # small and quick: every sensor (TM 2010-11, ETM+ SLC-off 2012, OLI 2013-14), off-season scenes
    "tiny": SynthConfig(width_px=96, height_px=80, years=(2009, 2014), n_mines=2,
                        off_season_scenes=1, n_stations=3),
    # a Shendong-sized extent (about 20.4 million 30 m pixels) for scale runs
    "shendong": SynthConfig(width_px=_shendong_side_px(), height_px=_shendong_side_px(),
                            years=(2001, 2022), n_mines=133, scenes_per_season=2,
                            origin=(330_015.0, 4_420_005.0)),
}


def preset(name: str, **overrides) -> SynthConfig:
    """A named preset, optionally with fields replaced.

    Replacing ``years`` alone keeps the preset's ``monthly_years`` that fall inside them
    (``preset("demo", years=(2015, 2020))`` has monthly scenes in 2020 only)."""
    if name not in PRESETS:
        raise ValueError(f"unknown synth preset {name!r}; choose one of {sorted(PRESETS)}.")
    base = PRESETS[name]
    if "years" in overrides and "monthly_years" not in overrides:
        first, last = overrides["years"]
        overrides = {**overrides, "monthly_years": tuple(y for y in base.monthly_years if first <= y <= last)}
    return replace(base, **overrides) if overrides else base
