"""The run report: one self-contained static HTML page per store (``report.html``).

:func:`write_report` builds it; a stage adds what its group shows with the
:func:`section` decorator (:mod:`cubeeco.report.sections`), writing into a
:class:`Page` (:mod:`cubeeco.report.page`). See docs/report.md.
"""

from __future__ import annotations

from .build import GENERATOR, ReportWarning, is_cubeeco_report, write_report
from .page import Page
from .sections import SECTIONS, Section, section

__all__ = ["GENERATOR", "Page", "ReportWarning", "SECTIONS", "Section", "is_cubeeco_report", "section",
           "write_report"]
