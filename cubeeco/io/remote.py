"""Remote assets: hrefs made readable by GDAL before and while a cube is loaded.

(Interface stub; the implementation fills it in: Planetary Computer signing with token
refresh, Earth Search requester-pays ``s3://`` or the ``https`` alternate.)
"""

from __future__ import annotations


def prepare_assets(items: list[dict], **options) -> tuple[list[dict], dict]:
    """Item dicts whose asset hrefs GDAL can open, and extra ``stackstac.stack`` keyword
    arguments (e.g. ``reader=``, ``gdal_env=``) that keep them readable during the run."""
    return items, {}
