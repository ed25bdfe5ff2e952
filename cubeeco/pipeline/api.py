"""``cubeeco.run``: a whole pipeline from Python, as ``cubeeco run CONFIG`` does."""

from __future__ import annotations

from pathlib import Path

from .config import RunConfig, load_config, parse_config


def run(config, *, client=None, progress: bool = True, report: bool = True):
    """Run a pipeline config: a YAML path, a dict (paths relative to the working directory)
    or a :class:`~cubeeco.pipeline.config.RunConfig`. Returns the stages' reports.

    Every step (and the stages it needs) is written to the run's Zarr store, skipping what
    is complete with the same fingerprint and resuming what a killed run left; tables are
    exported as CSV beside the store and, with ``report``, the HTML report is written
    (``report:`` in the config, by default ``report.html`` beside the store).
    """
    from .run import run as run_stages

    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif isinstance(config, dict):
        config = parse_config(config, base_dir=".")
    elif not isinstance(config, RunConfig):
        raise TypeError(f"config must be a YAML path, a dict or a RunConfig, got {type(config).__name__}.")
    if report:     # before hours of computing: the report could not be written there
        from ..report.build import check_report_target

        check_report_target(config.report_path())
    reports = run_stages(config, client=client, progress=progress)
    if report:
        write_run_report(config)
    return reports


def write_run_report(config: RunConfig, **kwargs) -> Path:
    """The run's HTML report (zone outlines from its zone layers)."""
    from ..report import write_report

    zones = config.zone_paths()
    boundaries = zones.get("mines") or next(iter(zones.values()), None)
    return write_report(config.path(config.store), config.report_path(), title=f"cubeeco run {config.name}",
                        boundaries=boundaries if boundaries is not None and boundaries.exists() else None,
                        **kwargs)
