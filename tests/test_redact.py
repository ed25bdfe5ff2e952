"""Redaction rules: every credential form loses its value; harmless URLs and prose stay; and
every writer (stores, provenance, run log, reports, error messages) applies them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cubeeco.redact import MASK, redact, redact_obj

PC_SAS = ("st=2024-01-01T00%3A00%3A00Z&se=2024-01-02T00%3A00%3A00Z&sp=rl&sv=2021-06-08&sr=c"
          "&skoid=SECRET1&sktid=SECRET2&skt=2024-01-01&ske=2024-01-02&sks=b&skv=2021-06-08"
          "&sig=SECRET3%3D")


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:8000/?token=SECRET",
    "https://h/x?a=1&access_token=SECRET#frag",
    "https://h/x?api_token=SECRET&private_key=SECRET&subscription-key=SECRET&apikey=SECRET",
    f"https://landsateuwest.blob.core.windows.net/landsat-c2/x_B4.TIF?{PC_SAS}",
    "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=SECRET%2F20240101&X-Amz-Security-Token=SECRET&X-Amz-Signature=SECRET",
    "https://storage.googleapis.com/b/o?X-Goog-Signature=SECRET",
    "https://user:SECRET@host.example/path",
    "postgresql://stac:SECRET@127.0.0.1:5432/pgstac",
    "https://:SECRET@host/",
    "key id AKIAIOSFODNN7SECRETX in a message",
    "aws_secret_access_key = SECRET",
    "{'password': 'SECRET', 'user': 'me'}",
    '{"token": "SECRET"}',
    "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=SECRET;EndpointSuffix=core.windows.net",
    "Authorization: Bearer abc.SECRET.123",
    "Authorization: Basic dXNlcjpTRUNSRVQ=",
    "clone https://ghp_SECRETSECRETSECRETSECRETSECRETSECRET1@github.com/o/r",
    "failed to open 'https://h/a.tif?sig=SECRET': 403",
])
def test_credentials_lose_their_value(text):
    out = redact(text)
    assert "SECRET" not in out and "dXNlcjpTRUNSRVQ" not in out and "AKIAIOSFODNN7" not in out
    assert MASK in out


def test_what_is_kept_around_a_credential():
    # the parameter names, the rest of the URL and of the message survive
    assert redact("see https://h/a.tif?x=1&sig=S&y=2 now") == "see https://h/a.tif?x=1&sig=REDACTED&y=2 now"
    assert redact("https://user:pw@h/p") == "https://user:REDACTED@h/p"
    assert redact("http://h/?token=") == "http://h/?token="       # nothing to hide


@pytest.mark.parametrize("text", [
    "https://planetarycomputer.microsoft.com/api/stac/v1/search?collections=landsat-c2-l2"
    "&bbox=110.1,39.2,110.5,39.6&datetime=2000-01-01/2024-12-31&limit=100",
    "http://127.0.0.1:8000/collections/landsat-c2-l2/items?limit=10&offset=20&sortby=-datetime",
    "https://earth-search.aws.element84.com/v1/search?filter-lang=cql2-json&fields=id",
    "https://h/q?monkey=1&sortkey=id&keywords=coal&page=2",
    "s3://usgs-landsat/collection02/level-2/standard/oli-tirs/2020/127/033/LC08_B4.TIF",
    "/data/token/keys/landsat_key_B4.TIF",
    "http://host:8080/path@v2/items",
    "Basic statistics of the token bucket",
    "Bearer authentication is not used here",
    "the key=value form; max_tokens: 5",
    "LC08_L2SP_127033_20200815_02_T1",
])
def test_harmless_text_is_left_alone(text):
    assert redact(text) == text


def test_redact_obj_walks_json_and_hides_secret_named_keys():
    obj = {"source": "http://h/?token=SECRET", "password": "SECRET", "client_secret": "SECRET",
           "nested": [{"url": "https://u:SECRET@h/"}, ("https://h/?sig=SECRET",)],
           "max_tokens": 5, "key": None, "keywords": ["coal"], "n": 3}
    out = redact_obj(obj)
    assert "SECRET" not in repr(out)
    assert out["password"] == MASK and out["client_secret"] == MASK
    assert out["max_tokens"] == 5 and out["key"] is None and out["keywords"] == ["coal"] and out["n"] == 3
    assert isinstance(out["nested"][1], tuple)
    assert obj["password"] == "SECRET"     # a copy: the caller's object is unchanged


# -- every writer, with a token-bearing source -------------------------------------------------

SECRET = "SECRET0tok3n"


def _leaks(*paths: Path, texts=()) -> list[str]:
    """Every file under ``paths`` (and every text) that still holds the secret."""
    found = [f"text {i}" for i, t in enumerate(texts) if SECRET in t]
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        found += [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    return found


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cubeeco.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def api_url(tiny_base, stac_api):
    from cubeeco.io.search import read_catalog

    collections, items = read_catalog(tiny_base.catalog)
    stac_api.load(list(collections.values()), [it for cid in collections for it in items[cid]], clear=True)
    return stac_api.url.rstrip("/")


def test_cube_and_run_with_a_token_in_the_source_store_none_of_it(api_url, tiny_config, tmp_path):
    import yaml

    source = f"{api_url}/?token={SECRET}&sig={SECRET}"
    store = tmp_path / "cube.zarr"
    grid = tiny_config.grid
    cube = _cli("cube", "--source", source, "--out", store, "--years", 2012, 2013, "-q",
                "--bounds", *grid.bounds, "--epsg", grid.epsg)
    assert cube.returncode == 0, cube.stderr
    from cubeeco.io.store import read_provenance

    assert "token=REDACTED" in read_provenance(store, "annual")["config"]["source"]
    cfg = {"name": "secret", "store": "run.zarr", "steps": ["annual"], "source": source,
           "grid": {"epsg": grid.epsg, "resolution": grid.resolution, "bounds": list(grid.bounds)},
           "years": [2012, 2013], "params": {"annual": {"indices": []}}, "chunks": 64,
           "cluster": {"kind": "threads"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    run = _cli("run", tmp_path / "run.yaml")
    assert run.returncode == 0, run.stderr
    log = tmp_path / "run.zarr.log.jsonl"
    assert log.exists()
    assert _leaks(tmp_path, texts=[cube.stdout, cube.stderr, run.stdout, run.stderr]) == [
        str(tmp_path / "run.yaml")]     # only the user's own config holds it


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_error_messages_do_not_repeat_the_token(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/?token={SECRET}"
    for args in (("search", "landsat-c2-l2", "--source", url),
                 ("cube", "--source", url, "--out", tmp_path / "c.zarr", "--bounds", 0, 0, 300, 300)):
        proc = _cli(*args)
        assert proc.returncode != 0
        assert "127.0.0.1" in proc.stderr and not _leaks(texts=[proc.stdout, proc.stderr]), proc.stderr
    assert not (tmp_path / "c.zarr").exists()


def test_every_writer_redacts(tmp_path):
    import numpy as np
    import pandas as pd
    import rioxarray  # noqa: F401
    import xarray as xr

    from cubeeco.io.provenance import provenance
    from cubeeco.io.store import mark_complete, stage, write_store
    from cubeeco.io.tables import export_csv, write_tables
    from cubeeco.pipeline.run import _log_event
    from cubeeco.report import write_report

    url = f"https://u:{SECRET}@h.example/x.tif?sig={SECRET}"
    ds = xr.Dataset({"v": (("y", "x"), np.zeros((4, 4), "float32"), {"source_href": url})},
                    coords={"y": [45.0, 15.0, -15.0, -45.0], "x": [15.0, 45.0, 75.0, 105.0]},
                    attrs={"input": url, "nested": {"token": SECRET}}).rio.write_crs(32649)
    prov = provenance(config={"source": url, "password": SECRET}, href=url)
    assert not _leaks(texts=[json.dumps(prov)])
    write_store(ds, tmp_path / "s.zarr", "g", provenance={**prov, "provenance:raw": url})
    _log_event(tmp_path / "run.log.jsonl", event="warning", message=f"could not read {url}",
               detail={"access_token": SECRET})
    target, where = stage(tmp_path / "s.zarr", "t")
    import zarr

    zarr.open_group(str(target), path=where, mode="w", zarr_format=2)
    write_tables(target, where, {"hrefs": pd.DataFrame({"href": [url], "n": [1]})})
    mark_complete(tmp_path / "s.zarr", "t")
    export_csv(tmp_path / "s.zarr")
    write_report(tmp_path / "s.zarr", tmp_path / "report.html")
    assert _leaks(tmp_path) == []
    assert "REDACTED" in (tmp_path / "report.html").read_text()
    assert "REDACTED" in (tmp_path / "s.zarr.tables" / "hrefs.csv").read_text()
    assert "REDACTED" in (tmp_path / "run.log.jsonl").read_text()


@pytest.mark.parametrize("text, kept", [
    # an AWS secret key holds "/" (and "+"): the whole password goes
    ("s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET@bucket/key.tif", "@bucket/key.tif"),
    ("https://user:pa@ssSECRET@host.example/x", "@host.example/x"),
    ("https://user:SECRET+a/b@host.example", "@host.example"),
    ("x-api-key: 1234SECRET5678", "x-api-key: "),
    ("Ocp-Apim-Subscription-Key: SECRET", "Subscription-Key: "),
    ("headers={'X-Api-Key': 'SECRET'}", "X-Api-Key"),
])
def test_passwords_with_slashes_or_at_signs_and_api_key_headers(text, kept):
    out = redact(text)
    assert "SECRET" not in out and "AKIAIOSFODNN7" not in out and MASK in out, out
    assert kept in out, out


@pytest.mark.parametrize("text", ["https://host.example:8080/users/@me", "https://h:443/a@b/c"])
def test_a_port_is_not_a_password(text):
    assert redact(text) == text


def test_provenance_masks_secret_named_keys():
    from cubeeco.io.provenance import provenance

    secrets = {"account_key": SECRET, "secret_key": SECRET, "x-api-key": SECRET,
               "Subscription-Key": SECRET}
    prov = provenance(config={"source": "https://h.example/stac", "storage": secrets},
                      credentials=secrets)
    assert not _leaks(texts=[json.dumps(prov)]), prov
    config = json.loads(prov["provenance:config"])
    assert config["storage"] == dict.fromkeys(secrets, MASK)
    assert config["source"] == "https://h.example/stac"
    assert json.loads(prov["provenance:credentials"]) == dict.fromkeys(secrets, MASK)


def test_debug_traceback_carries_no_token(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/?token={SECRET}&sig={SECRET}"
    proc = _cli("search", "landsat-c2-l2", "--source", url, "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "127.0.0.1" in proc.stderr, proc.stderr
    assert not _leaks(texts=[proc.stdout, proc.stderr]), proc.stderr


def test_debug_traceback_of_an_error_chain_that_holds_the_token_is_redacted(capsys):
    from cubeeco.cli import _report

    url = f"https://h.example/search?token={SECRET}"
    try:
        try:
            raise ConnectionError(f"HTTPSConnectionPool: max retries exceeded with url {url}")
        except ConnectionError as inner:
            raise RuntimeError(f"search of {url} failed") from inner
    except RuntimeError as err:
        assert _report(err, "search", debug=True) == 1
    err_text = capsys.readouterr().err
    assert "Traceback" in err_text and "ConnectionError" in err_text and "token=REDACTED" in err_text
    assert SECRET not in err_text
