"""Remote assets against local servers that act like the real ones (no network but 127.0.0.1).

- ``SasApi``: a Planetary Computer-style SAS token API issuing short-lived container tokens;
- ``BlobStore``: blob storage (path-style, as the Azure emulator serves it) that answers 403 to
  a request without a token it issued or after that token's expiry, with HTTP range reads;
- ``S3Store``: an S3 endpoint that answers 403 unless the request is signed (SigV4) and says
  ``x-amz-request-payer: requester``, like a requester-pays bucket.

COGs are read through rasterio/GDAL and stackstac, with the keyword arguments
`cubeeco.io.remote.prepare_assets` returns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import re
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import rasterio
import stackstac
from rasterio.transform import from_origin

from cubeeco.io import remote
from cubeeco.io.remote import (
    BlobSigner,
    RemoteAssetError,
    RemoteReadError,
    SigningReader,
    is_signed,
    prepare_assets,
    sas_expiry,
    with_token,
)

EPSG = 32649
X0, Y0, RES, SIZE = 518685.0, 4390215.0, 30.0, 512     # a USGS-like origin (15 m mod 30 m)
ACCOUNT, CONTAINER = "landsateuwest", "landsat-c2"
BLOB = "level-2/standard/oli-tirs/2015/127/033/LC08_L2SP_127033_20150801_SR_B4.TIF"


# -- local servers ---------------------------------------------------------------------
class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread; ``handler`` methods get the
    request handler."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10            # a client that stops reading never blocks a server thread for good

            def do_GET(self):
                owner.handle(self, head=False)

            def do_HEAD(self):
                owner.handle(self, head=True)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}"
        self.requests: list[tuple[str, int]] = []     # (path with query, status)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def reply(self, h, status, body=b"", ctype="application/json", headers=None, head=False):
        self.requests.append((h.path, status))
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def serve_bytes(self, h, data: bytes, head: bool):
        """The file, or the byte range(s) asked for (single or multipart)."""
        rng = h.headers.get("Range")
        if not rng:
            return self.reply(h, 200, data, "image/tiff", {"Accept-Ranges": "bytes"}, head)
        spans = []
        for part in rng.split("=", 1)[1].split(","):
            a, b = part.strip().split("-")
            a, b = int(a), min(int(b) if b else len(data) - 1, len(data) - 1)
            spans.append((a, b))
        if len(spans) == 1:
            a, b = spans[0]
            return self.reply(h, 206, data[a:b + 1], "image/tiff",
                              {"Content-Range": f"bytes {a}-{b}/{len(data)}", "Accept-Ranges": "bytes"}, head)
        boundary = "cubeecoboundary"
        body = b"".join(
            f"--{boundary}\r\nContent-Type: image/tiff\r\nContent-Range: bytes {a}-{b}/{len(data)}\r\n\r\n".encode()
            + data[a:b + 1] + b"\r\n" for a, b in spans) + f"--{boundary}--\r\n".encode()
        return self.reply(h, 206, body, f"multipart/byteranges; boundary={boundary}", {}, head)


class SasApi(_Server):
    """``GET /token/{account}/{container}`` → ``{"token": "se=...&sig=...", "msft:expiry": ...}``."""

    def __init__(self, lifetime: float = 3600.0, accounts=(ACCOUNT,)):
        super().__init__()
        self.lifetime, self.accounts = lifetime, set(accounts)
        self.issued: dict[str, tuple[str, str, float]] = {}     # sig -> (account, container, expiry)
        self.lock = threading.Lock()

    def issue(self, account, container, lifetime=None) -> tuple[str, float]:
        expiry = time.time() + (self.lifetime if lifetime is None else lifetime)
        sig = secrets.token_urlsafe(24)
        se = dt.datetime.fromtimestamp(expiry, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        token = f"st=2026-01-01T00%3A00%3A00Z&se={urllib.parse.quote(se)}&sp=rl&sv=2024-05-04&sr=c&sig={sig}"
        with self.lock:
            self.issued[sig] = (account, container, expiry)
        return token, expiry

    def revoke_all(self):
        with self.lock:
            self.issued.clear()

    def handle(self, h, head):
        m = re.fullmatch(r"/token/([^/]+)/([^/?]+)", h.path)
        if not m or m.group(1) not in self.accounts:
            return self.reply(h, 404, b'{"message": "no such account"}')
        token, expiry = self.issue(m.group(1), m.group(2))
        se = dt.datetime.fromtimestamp(expiry, dt.timezone.utc).isoformat().replace("+00:00", "Z")
        self.reply(h, 200, json.dumps({"msft:expiry": se, "token": token}).encode())

    @property
    def tokens_issued(self) -> int:
        return sum(1 for path, status in self.requests if status == 200)


class BlobStore(_Server):
    """Path-style blob storage: ``/{account}/{container}/{blob}?<SAS>``, 403 without a valid token."""

    def __init__(self, sas: SasApi, files: dict[str, bytes], delay: float = 0.0):
        super().__init__()
        self.sas, self.files, self.delay = sas, files, delay

    def handle(self, h, head):
        parts = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(parts.query)
        segs = parts.path.lstrip("/").split("/", 2)
        sigs = query.get("sig", [])
        with self.sas.lock:
            grant = self.sas.issued.get(sigs[0]) if len(sigs) == 1 else None
        if grant is None or grant[:2] != tuple(segs[:2]) or time.time() >= grant[2]:
            body = b"<?xml version='1.0'?><Error><Code>AuthenticationFailed</Code></Error>"
            return self.reply(h, 403, body, "application/xml", head=head)
        if self.delay:
            time.sleep(self.delay)
        data = self.files.get(parts.path.lstrip("/"))
        if data is None:
            return self.reply(h, 404, b"<Error><Code>BlobNotFound</Code></Error>", "application/xml", head=head)
        self.serve_bytes(h, data, head)

    @property
    def refused(self) -> int:
        return sum(1 for _, status in self.requests if status == 403)

    def sigs_seen(self) -> list[list[str]]:
        return [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query).get("sig", []) for p, _ in self.requests]


class S3Store(_Server):
    """Path-style S3 (``/{bucket}/{key}``) that insists on SigV4 and ``x-amz-request-payer``."""

    def __init__(self, files: dict[str, bytes], requester_pays: bool = True):
        super().__init__()
        self.files, self.requester_pays = files, requester_pays
        self.payer_headers: list[str | None] = []

    def handle(self, h, head):
        signed = (h.headers.get("Authorization") or "").startswith("AWS4-HMAC-SHA256 Credential=")
        payer = h.headers.get("x-amz-request-payer")
        self.payer_headers.append(payer)
        if not signed or (self.requester_pays and payer != "requester"):
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            return self.reply(h, 403, body, "application/xml", head=head)
        data = self.files.get(urllib.parse.urlsplit(h.path).path.lstrip("/"))
        if data is None:
            return self.reply(h, 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml", head=head)
        self.serve_bytes(h, data, head)


class PlainStore(_Server):
    """An open https-like file server (the ``https`` alternate of Earth Search assets)."""

    def __init__(self, files: dict[str, bytes]):
        super().__init__()
        self.files = files

    def handle(self, h, head):
        data = self.files.get(urllib.parse.urlsplit(h.path).path.lstrip("/"))
        if data is None:
            return self.reply(h, 404, b"not found", "text/plain", head=head)
        self.serve_bytes(h, data, head)


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cog(tmp_path_factory) -> tuple[bytes, np.ndarray]:
    """A 512 x 512 uint16 COG with 128 px tiles on a USGS-like UTM grid, and its pixels."""
    path = tmp_path_factory.mktemp("cog") / "red.tif"
    data = (np.arange(SIZE * SIZE, dtype=np.uint32).reshape(SIZE, SIZE) % 60000 + 1).astype("uint16")
    with rasterio.open(path, "w", driver="COG", width=SIZE, height=SIZE, count=1, dtype="uint16",
                       crs=f"EPSG:{EPSG}", transform=from_origin(X0, Y0, RES, RES), nodata=0,
                       blocksize=128, compress="none", overview_resampling="nearest") as dst:
        dst.write(data, 1)
    return path.read_bytes(), data


@pytest.fixture(autouse=True)
def _empty_token_cache():
    remote._TOKENS.clear()
    yield
    remote._TOKENS.clear()


@pytest.fixture
def pc(cog):
    """A SAS API and a blob store serving the COG; ``pc.href`` is its unsigned blob URL."""
    sas = SasApi()
    store = BlobStore(sas, {f"{ACCOUNT}/{CONTAINER}/{BLOB}": cog[0]})

    class PC:
        pass

    env = PC()
    env.sas, env.store, env.data = sas, store, cog[1]
    env.href = f"{store.url}/{ACCOUNT}/{CONTAINER}/{BLOB}"
    env.options = {"sas_url": sas.url, "blob_hosts": [store.host]}
    yield env
    sas.close()
    store.close()


def _item(href: str, key: str = "red", **asset_fields) -> dict:
    """A saved Planetary Computer-like Landsat item (projection v1.1 on the item)."""
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": "LC08_L2SP_127033_20150801_02_T1",
        "collection": "landsat-c2-l2", "bbox": [111.2, 39.6, 111.3, 39.7],
        "geometry": {"type": "Polygon", "coordinates": [[[111.2, 39.6], [111.3, 39.6], [111.3, 39.7],
                                                         [111.2, 39.7], [111.2, 39.6]]]},
        "properties": {"datetime": "2015-08-01T03:20:00Z", "platform": "landsat-8", "proj:epsg": EPSG,
                       "proj:transform": [RES, 0.0, X0, 0.0, -RES, Y0], "proj:shape": [SIZE, SIZE]},
        "assets": {key: {"href": href, "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                         "roles": ["data"], **asset_fields}},
        "links": [],
    }


def _stack(items, kwargs, key="red", chunksize=SIZE):
    return stackstac.stack(
        items, assets=[key], epsg=EPSG, resolution=RES, bounds=(X0, Y0 - SIZE * RES, X0 + SIZE * RES, Y0),
        snap_bounds=False, dtype=np.dtype("uint16"), fill_value=np.uint16(0), rescale=False,
        chunksize=(1, 1, chunksize, chunksize), xy_coords="center", properties=False, band_coords=False,
        **kwargs)


def _read(items, kwargs, **kw) -> np.ndarray:
    return _stack(items, kwargs, **kw).compute(scheduler="threads").values[0, 0]


def _signed(pc, lifetime=None) -> str:
    token, _ = pc.sas.issue(ACCOUNT, CONTAINER, lifetime)
    return f"{pc.href}?{token}"


# -- Planetary Computer signing ------------------------------------------------------------
def test_unsigned_saved_items_are_signed_at_read_time(pc):
    items = [_item(pc.href)]
    out, kwargs = prepare_assets(items, **pc.options)
    assert out[0]["assets"]["red"]["href"] == pc.href            # no token in the items
    assert items[0]["assets"]["red"]["href"] == pc.href          # input left alone
    assert set(kwargs) == {"reader", "gdal_env"}
    # without signing the store refuses: the server is a real test of the signing
    with pytest.raises(RuntimeError, match="403|Access|denied|not recognized|HTTP"):
        _read(out, {})
    np.testing.assert_array_equal(_read(out, kwargs), pc.data)
    assert all(len(sigs) == 1 for sigs, (_, status) in zip(pc.store.sigs_seen(), pc.store.requests)
               if status != 403)
    assert pc.sas.tokens_issued == 1                              # preflight; reused when reading


def test_items_through_a_pystac_item_collection(pc):
    import pystac

    ic = pystac.ItemCollection([_item(pc.href)])
    dicts = [it.to_dict(transform_hrefs=False) for it in ic]
    out, kwargs = prepare_assets(dicts, **pc.options)
    np.testing.assert_array_equal(_read(out, kwargs), pc.data)


def test_valid_signed_href_is_not_signed_twice(pc):
    href = _signed(pc)
    signer = prepare_assets([_item(pc.href)], **pc.options)[1]["reader"].keywords["signer"]
    before = pc.sas.tokens_issued
    assert signer.sign(href)[0] == href                           # its own token, no new one
    assert pc.sas.tokens_issued == before
    out, kwargs = prepare_assets([_item(href)], **pc.options)
    np.testing.assert_array_equal(_read(out, kwargs), pc.data)
    assert all(len(s) == 1 for s in pc.store.sigs_seen())        # one sig per request, never two


def test_presigned_token_is_not_in_the_graph(pc):
    """With signing on, a pre-signed blob href loses its SAS in the items: it is signed again
    when it is opened, so its token never sits in the dask graph."""
    import cloudpickle

    href = _signed(pc)
    (sig,) = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["sig"]
    out, kwargs = prepare_assets([_item(href)], **pc.options)
    assert out[0]["assets"]["red"]["href"] == pc.href
    da = _stack(out, kwargs)
    graph = dict(da.__dask_graph__())
    assert sig.encode() not in cloudpickle.dumps(graph) and sig not in str(graph)
    np.testing.assert_array_equal(da.compute(scheduler="threads").values[0, 0], pc.data)
    assert all(len(s) == 1 for s in pc.store.sigs_seen())
    # the other query parameters of the href are kept
    out, _ = prepare_assets([_item(f"{href}&foo=1")], **pc.options)
    assert out[0]["assets"]["red"]["href"] == f"{pc.href}?foo=1"


def test_sign_from_the_environment(pc, monkeypatch):
    """The loader passes no options: $CUBEECO_SIGN turns signing off (read when the graph is
    built), and an error that tells the user to turn it off names options that exist."""
    item = _item(pc.href.replace(ACCOUNT, "someoneelse"))
    with pytest.raises(RemoteReadError, match=r"CUBEECO_SIGN=never \(or prepare_assets\(sign=False\)\)"):
        prepare_assets([item], **pc.options)
    monkeypatch.setenv("CUBEECO_SIGN", "never")
    out, kwargs = prepare_assets([item], **pc.options)
    assert kwargs == {} and out[0]["assets"]["red"]["href"] == item["assets"]["red"]["href"]
    presigned = _item(_signed(pc))                  # storage signed by the user: left as it is
    out, kwargs = prepare_assets([presigned], **pc.options)
    assert out[0]["assets"]["red"]["href"] == presigned["assets"]["red"]["href"]
    assert kwargs["reader"] is remote.RedactingReader
    _, kwargs = prepare_assets([_item(pc.href)], **pc.options, sign=True)      # the option wins
    assert isinstance(kwargs["reader"].keywords["signer"], BlobSigner)
    monkeypatch.setenv("CUBEECO_SIGN", "auto")
    _, kwargs = prepare_assets([_item(pc.href)], **pc.options)
    assert "reader" in kwargs
    monkeypatch.setenv("CUBEECO_SIGN", "off")
    with pytest.raises(RemoteAssetError, match=r"\$CUBEECO_SIGN must be one of \['auto', 'never'\]") as err:
        prepare_assets([_item(pc.href)], **pc.options)
    assert err.value.argument == "sign"
    with pytest.raises(RemoteAssetError, match=r"option sign must be one of"):
        prepare_assets([], sign="sometimes")


def test_reader_with_a_credential_installs_the_log_filter(monkeypatch, caplog, tmp_path):
    """An href with a token that cubeeco does not sign (an https ``?token=``) gets a reader that
    installs the redacting log filter where it is created (a worker process too)."""
    secret = "tok-9f8e7d6c5b4a"
    href = f"https://data.example.org/red.tif?token={secret}"
    out, kwargs = prepare_assets([_item(href)])
    assert out[0]["assets"]["red"]["href"] == href and kwargs["reader"] is remote.RedactingReader
    assert prepare_assets([_item("https://data.example.org/red.tif")])[1] == {}
    for name in remote._LOGGERS_WITH_URLS:               # a fresh process: no filter yet
        logger = logging.getLogger(name)
        for f in [f for f in logger.filters if isinstance(f, remote._RedactingFilter)]:
            monkeypatch.setattr(logger, "filters", [g for g in logger.filters if g is not f])
    monkeypatch.setattr(remote, "_filter_installed", False)
    spec = _stack([_item(str(tmp_path / "red.tif"))], {}).attrs["spec"]
    kwargs["reader"](url=href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                     dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0), gdal_env=None)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("stackstac.rio_reader").debug("Initial read for %r", href)
    assert "Initial read" in caplog.text and secret not in caplog.text


def test_expired_signed_href_gets_a_fresh_token(pc):
    href = _signed(pc, lifetime=-60)                              # a catalog saved an hour ago
    assert sas_expiry(href) < time.time()
    out, kwargs = prepare_assets([_item(href)], **pc.options)
    np.testing.assert_array_equal(_read(out, kwargs), pc.data)
    assert all(len(s) == 1 for s in pc.store.sigs_seen())


def test_with_token_replaces_sas_and_keeps_other_query():
    url = "https://a.blob.core.windows.net/c/x.tif?foo=1&se=2020-01-01&sig=old&sp=r"
    signed = with_token(url, "se=2030-01-01&sp=rl&sig=new")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(signed).query)
    assert query["sig"] == ["new"] and query["foo"] == ["1"] and query["se"] == ["2030-01-01"]
    assert is_signed(signed) and not is_signed("https://a.blob.core.windows.net/c/x.tif")
    signer = BlobSigner()
    assert signer.container_of("https://a.blob.core.windows.net/c/x/y.tif") == ("a", "c")
    assert signer.container_of("https://example.org/c/x.tif") is None
    assert signer.container_of("s3://bucket/key.tif") is None


def test_long_read_renews_the_token_of_an_open_dataset(pc):
    """A reader kept open past its token's renewal time reopens with a fresh token."""
    pc.sas.lifetime = 2.0
    _, kwargs = prepare_assets([_item(pc.href)], **pc.options, preflight=False)
    spec = _stack([_item(pc.href)], {}).attrs["spec"]
    reader = kwargs["reader"](url=pc.href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                              dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0),
                              gdal_env=None)
    window = rasterio.windows.Window(0, 0, 64, 64)
    np.testing.assert_array_equal(reader.read(window), pc.data[:64, :64])
    first_token = reader._token
    time.sleep(2.2)                                               # the token has expired
    window = rasterio.windows.Window(384, 384, 64, 64)
    np.testing.assert_array_equal(reader.read(window), pc.data[384:448, 384:448])
    assert reader._token != first_token and pc.sas.tokens_issued == 2
    assert pc.store.refused == 0                                  # renewed before the server refused
    reader.close()


def test_read_refused_early_retries_with_a_new_token(pc):
    """A token the server stops honouring before its expiry (revoked) is replaced once."""
    out, kwargs = prepare_assets([_item(pc.href)], **pc.options)
    spec = _stack(out, {}).attrs["spec"]
    reader = kwargs["reader"](url=pc.href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                              dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0),
                              gdal_env=None)
    np.testing.assert_array_equal(reader.read(rasterio.windows.Window(0, 0, 64, 64)), pc.data[:64, :64])
    pc.sas.revoke_all()
    window = rasterio.windows.Window(384, 384, 64, 64)
    np.testing.assert_array_equal(reader.read(window), pc.data[384:448, 384:448])
    assert pc.store.refused >= 1 and pc.sas.tokens_issued == 2
    reader.close()


def test_dask_read_across_token_expiry(pc):
    """A slow read through dask that lasts several token lifetimes completes, re-signing."""
    pc.sas.lifetime = 1.2
    pc.store.delay = 0.1
    out, kwargs = prepare_assets([_item(pc.href)], **pc.options)
    da = _stack(out, kwargs, chunksize=128)
    t0 = time.time()
    got = da.compute(scheduler="synchronous").values[0, 0]
    np.testing.assert_array_equal(got, pc.data)
    assert time.time() - t0 > 1.2 and pc.sas.tokens_issued >= 2


@pytest.mark.parametrize("threaded_driver", [True, False])
def test_shared_reader_renews_under_concurrent_reads(pc, monkeypatch, threaded_driver):
    """stackstac shares one reader per asset between threads: while its token expires again
    and again, renewal never closes a dataset another thread is reading, no read fails and
    none needs the refused-token retry (``threaded_driver=False``: a driver GDAL cannot read
    from several threads, one dataset behind a lock, as stackstac uses for non-GTiff files)."""
    import concurrent.futures

    if not threaded_driver:
        monkeypatch.setattr(stackstac.rio_reader, "MULTITHREADED_DRIVER_ALLOWLIST", set())
    pc.sas.lifetime = 2.0                                   # renewed every second
    _, kwargs = prepare_assets([_item(pc.href)], **pc.options, preflight=False)
    spec = _stack([_item(pc.href)], {}).attrs["spec"]
    reader = kwargs["reader"](url=pc.href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                              dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0),
                              gdal_env=None)
    forgotten = []
    signer = reader._signer
    monkeypatch.setattr(type(signer), "forget", lambda self, href, token: forgotten.append(token))
    stop = time.time() + 4.5

    def work(seed):
        rng, n = np.random.default_rng(seed), 0
        while time.time() < stop:
            r, c = (int(v) for v in rng.integers(0, SIZE - 32, 2))
            got = reader.read(rasterio.windows.Window(c, r, 32, 32))
            np.testing.assert_array_equal(got, pc.data[r:r + 32, c:c + 32])
            n += 1
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        reads = sum(pool.map(work, range(8)))               # re-raises the first failure
    assert reads > 50 and pc.sas.tokens_issued >= 4         # several renewals under load
    assert forgotten == []              # no read needed the retry: never a closed dataset
    reader.close()


def test_reader_pickles_without_a_token(pc):
    out, kwargs = prepare_assets([_item(pc.href)], **pc.options, subscription_key="pc-key-1234567890")
    spec = _stack(out, {}).attrs["spec"]
    reader = kwargs["reader"](url=pc.href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                              dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0),
                              gdal_env=None)
    reader.read(rasterio.windows.Window(0, 0, 8, 8))
    blob = pickle.dumps(reader)
    assert not any(sig.encode() in blob for sig in pc.sas.issued)
    assert "pc-key-1234567890" not in repr(kwargs["reader"].keywords["signer"])
    clone = pickle.loads(blob)
    assert isinstance(clone, SigningReader)
    np.testing.assert_array_equal(clone.read(rasterio.windows.Window(0, 0, 8, 8)), pc.data[:8, :8])


def test_no_token_in_logs_or_errors(pc, caplog):
    caplog.set_level(logging.DEBUG)
    out, kwargs = prepare_assets([_item(pc.href), _item(pc.href.replace(".TIF", "_missing.TIF"))], **pc.options)
    out[1]["id"] = "missing"
    _read(out[:1], kwargs)
    with pytest.raises(RemoteReadError) as err:
        _read(out[1:], kwargs)
    text = caplog.text + str(err.value)
    assert pc.sas.issued and not any(sig in text for sig in pc.sas.issued)
    assert str(err.value) == f"cannot open {out[1]['assets']['red']['href']} " \
                             f"(RasterioIOError: HTTP response code: 404)"


def test_errors_as_nodata_warns_redacted(pc):
    out, kwargs = prepare_assets([_item(pc.href.replace(".TIF", "_missing.TIF"))], **pc.options)
    with pytest.warns(UserWarning) as record:
        got = _stack(out, {**kwargs, "errors_as_nodata": (RuntimeError(".*"), Exception(".*"))}) \
            .compute(scheduler="threads").values
    assert (got == 0).all()
    assert not any(sig in str(w.message) for w in record for sig in pc.sas.issued)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_token_api_failures_are_clear(pc):
    items = [_item(pc.href)]
    with pytest.raises(RemoteReadError, match=r"no SAS token for blob container landsateuwest/landsat-c2.*"
                                              r"cannot reach it.*PC_SDK_SAS_URL \(or prepare_assets\(sas_url=\.\.\.\)\)"):
        prepare_assets(items, sas_url=f"http://127.0.0.1:{_free_port()}", blob_hosts=[pc.store.host],
                       timeout=2)
    other = [_item(pc.href.replace(ACCOUNT, "someoneelse"))]
    with pytest.raises(RemoteReadError, match=r"refused a token.*someoneelse/landsat-c2.*HTTP 404.*"
                                              r"CUBEECO_SIGN=never \(or prepare_assets\(sign=False\)\)"):
        prepare_assets(other, **pc.options)
    # signing off: hrefs are left as they are, no reader
    out, kwargs = prepare_assets(other, **pc.options, sign=False)
    assert kwargs == {} and out[0]["assets"]["red"]["href"].endswith(".TIF")


def test_sas_url_from_the_environment(pc, monkeypatch):
    monkeypatch.setenv("PC_SDK_SAS_URL", pc.sas.url)
    out, kwargs = prepare_assets([_item(pc.href)], blob_hosts=[pc.store.host])
    assert kwargs["reader"].keywords["signer"].sas_url == pc.sas.url
    np.testing.assert_array_equal(_read(out, kwargs), pc.data)


def test_bad_options_are_clear():
    with pytest.raises(RemoteAssetError, match=r"unknown remote-asset option\(s\) \['sas'\]") as err:
        prepare_assets([], sas="x")
    assert err.value.argument == "sas"
    with pytest.raises(RemoteAssetError, match=r"s3 must be one of \['auto', 'https', 'requester-pays'\] "):
        prepare_assets([], s3="free")
    with pytest.raises(RemoteAssetError, match="s3_endpoint must be an http"):
        prepare_assets([], s3_endpoint="127.0.0.1:9000")


def test_s3_mode_from_the_environment(monkeypatch):
    item = _es_item("https://landsatlook.usgs.gov/data/" + S3_KEY)
    monkeypatch.setenv("CUBEECO_S3", "requester-pays")
    out, kwargs = prepare_assets([item])
    assert out[0]["assets"]["red"]["href"].startswith("s3://") and "gdal_env" in kwargs
    out, kwargs = prepare_assets([item], s3="auto")            # an option wins over the environment
    assert out[0]["assets"]["red"]["href"].startswith("https://") and kwargs == {}
    monkeypatch.setenv("CUBEECO_S3", "free")
    with pytest.raises(RemoteAssetError, match=r"\$CUBEECO_S3\), got 'free'"):
        prepare_assets([item])


def test_local_items_need_nothing(tmp_path):
    out, kwargs = prepare_assets([_item(str(tmp_path / "red.tif")), _item("https://example.org/red.tif")])
    assert kwargs == {}


# -- Earth Search: requester-pays S3 or the https alternate -------------------------------------
S3_KEY = "collection02/level-2/standard/oli-tirs/2015/127/033/LC08_L2SP_127033_20150801_SR_B4.TIF"


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _es_item(alternate: str | None = None) -> dict:
    fields = {"storage:requester_pays": True, "storage:region": "us-west-2"}
    if alternate:
        fields["alternate"] = {"https": {"href": alternate}}
    return _item(f"s3://usgs-landsat/{S3_KEY}", **fields)


def test_requester_pays_s3(cog, aws_env):
    other = S3_KEY.replace("SR_B4", "SR_B5")          # GDAL caches by path: one key per attempt
    s3 = S3Store({f"usgs-landsat/{S3_KEY}": cog[0], f"usgs-landsat/{other}": cog[0]})
    try:
        out, kwargs = prepare_assets([_es_item()], s3="requester-pays", s3_endpoint=s3.url)
        assert out[0]["assets"]["red"]["href"].startswith("s3://")
        env = kwargs["gdal_env"]
        assert env._always["AWS_REQUEST_PAYER"] == "requester"
        np.testing.assert_array_equal(_read(out, kwargs), cog[1])
        assert "requester" in s3.payer_headers
        # without requester-pays the endpoint refuses: the bucket really charges the requester
        out[0]["assets"]["red"]["href"] = f"s3://usgs-landsat/{other}"
        s3.payer_headers.clear()
        plain = {"gdal_env": env.updated(always={"AWS_REQUEST_PAYER": ""})}
        with pytest.raises(RuntimeError):
            _read(out, plain)
        assert s3.payer_headers and "requester" not in s3.payer_headers
    finally:
        s3.close()


def test_auto_without_alternate_is_requester_pays(cog, aws_env):
    s3 = S3Store({f"usgs-landsat/{S3_KEY}": cog[0]})
    try:
        out, kwargs = prepare_assets([_es_item()], s3_endpoint=s3.url)
        np.testing.assert_array_equal(_read(out, kwargs), cog[1])
    finally:
        s3.close()


def test_https_alternate(cog):
    web = PlainStore({S3_KEY: cog[0]})
    try:
        alt = f"{web.url}/{S3_KEY}"
        for mode in ("auto", "https"):
            out, kwargs = prepare_assets([_es_item(alt)], s3=mode)
            assert out[0]["assets"]["red"]["href"] == alt and kwargs == {}
            np.testing.assert_array_equal(_read(out, kwargs), cog[1])
        out, kwargs = prepare_assets([_es_item(alt)], s3="requester-pays")
        assert out[0]["assets"]["red"]["href"].startswith("s3://")
        assert kwargs["gdal_env"]._always["AWS_REQUEST_PAYER"] == "requester"
    finally:
        web.close()


def test_https_href_with_s3_alternate():
    """The other Earth Search shape: https href, requester-pays s3 under ``alternate``."""
    item = _item("https://landsatlook.usgs.gov/data/" + S3_KEY,
                 alternate={"s3": {"href": f"s3://usgs-landsat/{S3_KEY}", "storage:requester_pays": True,
                                   "storage:region": "us-west-2"}})
    out, kwargs = prepare_assets([item])
    assert out[0]["assets"]["red"]["href"].startswith("https://") and kwargs == {}
    out, kwargs = prepare_assets([item], s3="requester-pays")
    assert out[0]["assets"]["red"]["href"].startswith("s3://usgs-landsat/")
    assert kwargs["gdal_env"]._always["AWS_REQUEST_PAYER"] == "requester"


def test_https_mode_without_alternate_is_an_error():
    with pytest.raises(RemoteAssetError, match=r"asset 'red' of item 'LC08_L2SP_127033_20150801_02_T1' is in a "
                                               r"requester-pays S3 bucket and has no https alternate; "
                                               r"use s3='requester-pays'") as err:
        prepare_assets([_es_item()], s3="https")
    assert err.value.argument == "s3"


def test_requester_pays_without_credentials_warns(monkeypatch, caplog, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with caplog.at_level(logging.WARNING, logger="cubeeco.io.remote"):
        prepare_assets([_es_item()])
    assert "need AWS credentials" in caplog.text


# -- through the real loader ---------------------------------------------------------------------
@pytest.mark.parametrize("unreadable", ["raise", "skip"])     # "skip" checks each asset first
def test_open_cube_reads_signed_blobs(pc, cog, monkeypatch, unreadable):
    """`cubeeco.io.cube.open_cube` on saved, unsigned Planetary Computer-like items: the loader's
    own `prepare_assets` call signs them (endpoint and blob host from the environment), and
    its ``unreadable="skip"`` pre-check opens them signed (`signed_href`)."""
    from cubeeco.io.cube import open_cube
    from cubeeco.io.grid import Grid

    monkeypatch.setenv("PC_SDK_SAS_URL", pc.sas.url)
    monkeypatch.setenv("CUBEECO_BLOB_HOSTS", pc.store.host)
    qa_blob = BLOB.replace("SR_B4", "QA_PIXEL")
    pc.store.files[f"{ACCOUNT}/{CONTAINER}/{qa_blob}"] = _cog_bytes(np.full((SIZE, SIZE), 21824, "uint16"))
    item = _item(pc.href)
    item["assets"]["qa_pixel"] = {"href": f"{pc.store.url}/{ACCOUNT}/{CONTAINER}/{qa_blob}",
                                  "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                  "roles": ["cloud"]}
    grid = Grid(EPSG, RES, (X0, Y0 - SIZE * RES, X0 + SIZE * RES, Y0))
    ds = open_cube([item], grid=grid, bands=("red",), unreadable=unreadable)
    red = ds["red"].compute().values[0]
    dn = pc.data.astype("float64")
    np.testing.assert_allclose(red, dn * 2.75e-05 - 0.2, rtol=1e-6, atol=1e-6)
    assert pc.sas.tokens_issued >= 1 and pc.store.refused == 0
    assert not any(sig in json.dumps(ds.attrs, default=str) for sig in pc.sas.issued)


def _cog_bytes(data: np.ndarray) -> bytes:
    from rasterio.io import MemoryFile

    with MemoryFile() as mem:
        with mem.open(driver="COG", width=SIZE, height=SIZE, count=1, dtype=data.dtype, crs=f"EPSG:{EPSG}",
                      transform=from_origin(X0, Y0, RES, RES), blocksize=128) as dst:
            dst.write(data, 1)
        return mem.read()


def test_signed_read_on_a_worker_process(pc):
    """The reader travels to a worker process (pickled, no token) and signs there itself."""
    from distributed import Client, LocalCluster

    out, kwargs = prepare_assets([_item(pc.href)], **pc.options)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address="127.0.0.1:0",
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        got = client.compute(_stack(out, kwargs, chunksize=256)).result().values[0, 0]
    np.testing.assert_array_equal(got, pc.data)
    assert pc.sas.tokens_issued == 2             # the client's preflight token, and the worker's own


def test_refused_presigned_href_is_signed_anew(pc):
    """A reader given an href signed by someone else whose token the server no longer honours
    gets a new one."""
    href = _signed(pc)
    _, kwargs = prepare_assets([_item(pc.href)], **pc.options, preflight=False)
    spec = _stack([_item(pc.href)], {}).attrs["spec"]
    reader = kwargs["reader"](url=href, spec=spec, resampling=rasterio.enums.Resampling.nearest,
                              dtype=np.dtype("uint16"), fill_value=np.uint16(0), scale_offset=(1, 0),
                              gdal_env=None)
    pc.sas.revoke_all()
    np.testing.assert_array_equal(reader.read(rasterio.windows.Window(0, 0, 64, 64)), pc.data[:64, :64])
    assert pc.sas.tokens_issued == 1 and pc.store.refused >= 1
    assert all(len(s) == 1 for s in pc.store.sigs_seen())
    reader.close()


def test_signed_href_for_checks_outside_stackstac(pc):
    from cubeeco.io.remote import signed_href

    out, kwargs = prepare_assets([_item(pc.href)], **pc.options)
    url = signed_href(pc.href, kwargs)
    assert is_signed(url) and url.startswith(pc.href + "?")
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url) as ds:
        assert ds.shape == (SIZE, SIZE)
    assert signed_href("/data/red.tif", kwargs) == "/data/red.tif"
    assert signed_href(pc.href, {}) == pc.href
