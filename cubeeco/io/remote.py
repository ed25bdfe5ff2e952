"""Remote assets: hrefs made readable by GDAL before and while a cube is loaded.

`prepare_assets` is called by the loader right before ``stackstac.stack`` and returns the items
and extra ``stackstac.stack`` keyword arguments. Two kinds of remote asset need more than a URL
(docs/remote-data.md tells the user's side):

- **Planetary Computer** (Azure blob storage,
  ``https://<account>.blob.core.windows.net/<container>/...``): hrefs need a SAS token that
  expires (about an hour). They are signed *when GDAL opens them*, by `SigningReader`, a stackstac
  reader, with a token from the SAS API (``GET {sas_url}/token/{account}/{container}``) kept in a
  per-process cache and renewed before its ``msft:expiry``. An open dataset whose token is about
  to expire is reopened with a fresh one, and a read the server refuses is retried once with a
  new token. So items from any source
  (an API search, a saved catalog or ItemCollection, signed yesterday or never: a SAS already in
  an href is dropped here) load the same, on any worker, hours later; and no token is in the
  items, the dask graph, the stores or logs. ``sign=False`` / ``$CUBEECO_SIGN=never`` turns this
  off (storage you sign yourself).
- **Earth Search** Landsat (``s3://usgs-landsat/...``, ``storage:requester_pays: true``, with an
  ``https`` alternate, or the other way round): ``s3="auto"`` (default) reads the ``https``
  alternate when there is one, else the s3 href with requester-pays; ``s3="https"`` insists on
  https; ``s3="requester-pays"`` reads from S3 and the requester (you, with AWS credentials from
  the environment) pays for the transfer (GDAL ``AWS_REQUEST_PAYER=requester``).

Hrefs that need nothing (local files, plain https) are left alone and add no keyword arguments.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import logging
import os
import re
import threading
import time
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from stackstac.nodata_reader import NodataReader, exception_matches, nodata_for_window
from stackstac.rio_reader import DEFAULT_GDAL_ENV, AutoParallelRioReader

from ..redact import redact

log = logging.getLogger(__name__)

PC_SAS_URL = "https://planetarycomputer.microsoft.com/api/sas/v1"
BLOB_DOMAIN = ".blob.core.windows.net"
S3_MODES = ("auto", "https", "requester-pays")
# $CUBEECO_SIGN: "auto" signs Azure blob hrefs (the only hrefs that can be signed), "never" leaves
# every href as it is (storage you sign yourself); the `sign=` option of prepare_assets wins
SIGN_MODES = ("auto", "never")
# the options that exist for each fix, as the user can set them (the loader passes no options)
_SIGN_HINT = "CUBEECO_SIGN=never (or prepare_assets(sign=False))"
_SAS_URL_HINT = "check PC_SDK_SAS_URL (or prepare_assets(sas_url=...))"
# query parameters of an Azure SAS token: dropped from an href before it is signed anew
_SAS_PARAMS = frozenset({
    "sv", "ss", "srt", "sp", "se", "st", "spr", "sig", "sr", "si", "sip", "skoid", "sktid",
    "skt", "ske", "sks", "skv", "sdd", "saoid", "suoid", "scid", "ses",
    "rscc", "rscd", "rsce", "rscl", "rsct",
})


class RemoteAssetError(ValueError):
    """A remote-asset option or asset the user has to fix; ``argument`` names the option."""

    def __init__(self, argument: str, message: str):
        self.argument = argument
        super().__init__(redact(message))


class RemoteReadError(RuntimeError):
    """A remote asset could not be signed, opened or read (the message is redacted)."""

    def __init__(self, message: str):
        super().__init__(redact(" ".join(str(message).split())))


class _Secret(str):
    """A string that never shows itself in a repr (a subscription key inside the dask graph)."""

    def __repr__(self) -> str:
        return "'REDACTED'"


# -- Planetary Computer: SAS tokens ---------------------------------------------------
@dataclass(frozen=True)
class _Token:
    token: str
    expiry: float        # POSIX seconds
    deadline: float      # renew from this time on (before expiry, by the refresh margin)


_TOKENS: dict[tuple[str, str, str], _Token] = {}
_TOKENS_LOCK = threading.Lock()


@dataclass(frozen=True)
class BlobSigner:
    """Signs Azure blob hrefs with SAS tokens from a Planetary Computer-style SAS API.

    Picklable (it travels to dask workers inside the graph); the token cache is per process.
    ``blob_hosts`` lists hosts that serve blobs path-style,
    ``http://host/<account>/<container>/...`` (the Azure storage emulator's form, and the
    local servers of the tests).
    """

    sas_url: str = PC_SAS_URL
    subscription_key: _Secret | None = None
    blob_hosts: tuple[str, ...] = ()
    refresh_margin: float = 300.0
    timeout: float = 30.0
    retries: int = 3

    def container_of(self, href: str) -> tuple[str, str] | None:
        """(account, container) of a blob href, or None for any other href."""
        parts = urlsplit(href)
        if parts.scheme not in ("http", "https"):
            return None
        segments = [s for s in parts.path.split("/") if s]
        if parts.hostname and parts.hostname.endswith(BLOB_DOMAIN) and len(segments) >= 2:
            return parts.hostname[: -len(BLOB_DOMAIN)], segments[0]
        if parts.netloc in self.blob_hosts and len(segments) >= 3:
            return segments[0], segments[1]
        return None

    def sign(self, href: str, *, fresh: bool = False) -> tuple[str, str | None, float | None]:
        """(url to open, token used or None, time from which to renew or None).

        An href that already carries a SAS token valid beyond the refresh margin is used as it
        is (never signed twice); an expired or expiring one, or any with ``fresh`` (its token
        was refused), has its SAS replaced by a token from the cache or the token API.
        """
        where = self.container_of(href)
        if where is None or not (fresh or self.needs_token(href)):
            expiry = sas_expiry(href) if where else None
            return href, None, (expiry - self.refresh_margin if expiry is not None else None)
        token = self.token(*where)
        return with_token(href, token.token), token.token, token.deadline

    def needs_token(self, href: str) -> bool:
        """Whether a blob href has no SAS, or one that expires within the refresh margin."""
        if not is_signed(href):
            return True
        expiry = sas_expiry(href)
        return expiry is not None and time.time() >= expiry - self.refresh_margin

    def token(self, account: str, container: str) -> _Token:
        """A token for the container from the process cache, fetched when due for renewal."""
        key = (self.sas_url, account, container)
        with _TOKENS_LOCK:
            cached = _TOKENS.get(key)
            if cached is not None and time.time() < cached.deadline:
                return cached
            token = self._fetch(account, container)
            _TOKENS[key] = token
            return token

    def _fetch(self, account: str, container: str) -> _Token:
        import requests

        url = f"{self.sas_url.rstrip('/')}/token/{account}/{container}"
        key = self.subscription_key
        headers = {"Ocp-Apim-Subscription-Key": str(key)} if key else {}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 4.0))
            try:
                resp = requests.get(url, headers=headers, timeout=self.timeout)
            except requests.RequestException as err:
                problem = f"cannot reach it ({type(err).__name__})"
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                problem = f"it answered HTTP {resp.status_code}"
                continue
            if resp.status_code in (401, 403, 404):
                raise RemoteReadError(
                    f"the SAS token API {url} refused a token for blob container "
                    f"{account}/{container} (HTTP {resp.status_code}); these hrefs may not be "
                    f"Planetary Computer data: for storage you sign yourself turn signing off "
                    f"with {_SIGN_HINT}, or {_SAS_URL_HINT}.")
            if resp.status_code != 200:
                raise RemoteReadError(f"the SAS token API {url} answered HTTP {resp.status_code} "
                                      f"for {account}/{container}; {_SAS_URL_HINT}.")
            return self._parse(url, resp)
        raise RemoteReadError(
            f"no SAS token for blob container {account}/{container}: the SAS token API {url} "
            f"failed {self.retries + 1} times ({problem}); check the network, and "
            f"PC_SDK_SAS_URL (or prepare_assets(sas_url=...)).")

    def _parse(self, url: str, resp) -> _Token:
        try:
            body = resp.json()
            token, expiry = str(body["token"]).lstrip("?"), _parse_time(body["msft:expiry"])
        except (ValueError, KeyError, TypeError):
            raise RemoteReadError(
                f"the SAS token API {url} did not answer with "
                f"{{'token': ..., 'msft:expiry': ...}}; {_SAS_URL_HINT}.") from None
        now = time.time()
        # renew `refresh_margin` before expiry, or half-way for tokens shorter than twice that
        return _Token(token, expiry, expiry - min(self.refresh_margin, max(expiry - now, 0.0) / 2))

    def forget(self, href: str, token: str | None) -> None:
        """Drop ``token`` (refused by the server) from the cache."""
        where = self.container_of(href)
        if where is None or token is None:
            return
        key = (self.sas_url, *where)
        with _TOKENS_LOCK:
            if key in _TOKENS and _TOKENS[key].token == token:
                del _TOKENS[key]


def _parse_time(value: str) -> float:
    d = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return (d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)).timestamp()


def is_signed(href: str) -> bool:
    """Whether an href carries a SAS signature (``sig=`` in its query)."""
    return any(k == "sig" for k, _ in parse_qsl(urlsplit(href).query, keep_blank_values=True))


def sas_expiry(href: str) -> float | None:
    """The ``se`` (signed expiry) of a signed href, in POSIX seconds, or None."""
    for k, v in parse_qsl(urlsplit(href).query, keep_blank_values=True):
        if k == "se":
            try:
                return _parse_time(unquote(v))
            except ValueError:
                return None
    return None


def with_token(href: str, token: str) -> str:
    """``href`` with its SAS parameters (if any) replaced by ``token``; other query kept."""
    parts = urlsplit(href)
    query = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in query if k not in _SAS_PARAMS]
    query = "&".join(q for q in (urlencode(kept), token) if q)
    return urlunsplit(parts._replace(query=query))


# -- the reader that signs at open time -------------------------------------------------
class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


# stackstac logs every open and read with its URL at DEBUG; rasterio relays GDAL's messages
_LOGGERS_WITH_URLS = ("stackstac", "stackstac.timer", "stackstac.rio_reader", "stackstac.to_dask",
                      "rasterio", "rasterio._env", "rasterio._base", "rasterio._io", "rasterio.env",
                      "rasterio._filepath", "rasterio.session", "rasterio._err")
_filter_installed = False


def _redact_library_logs() -> None:
    global _filter_installed
    if not _filter_installed:
        for name in _LOGGERS_WITH_URLS:
            logging.getLogger(name).addFilter(_RedactingFilter())
        _filter_installed = True


# a blob that is not there: a new token would not help (GDAL says nothing as clear of a 403
# during a read, only "Read error at row ...": any other failure is retried once)
_NOT_FOUND = re.compile(r"HTTP response code: 404|BlobNotFound|No such file")


def _root_cause(err: BaseException) -> str:
    """The innermost exception of a chain (stackstac wraps rasterio's), as 'Type: message'."""
    while err.__cause__ is not None:
        err = err.__cause__
    return redact(" ".join(f"{type(err).__name__}: {err}".split()))


class RedactingReader(AutoParallelRioReader):
    """stackstac's rasterio reader, with the log-redacting filter installed in the process
    that reads (a dask worker included): used for hrefs that carry a credential and are not
    signed by cubeeco (``?token=`` https hrefs, blob hrefs with signing off)."""

    def __init__(self, **kwargs):
        _redact_library_logs()
        super().__init__(**kwargs)

    def __setstate__(self, state):
        self.__init__(**state)


class SigningReader(AutoParallelRioReader):
    """stackstac's rasterio reader, signing blob hrefs each time it opens them.

    The graph holds the href without a token; the signed URL lives only in the open GDAL
    dataset. stackstac shares one reader per asset between the threads of a worker, so an
    open dataset is never closed in place: once the token's renewal time has come, the next
    read swaps in a dataset opened with a fresh token, and the old one is closed by the
    garbage collector when the last read still using it returns. A refused read is retried
    once with a new token (the dataset replaced only if it is still the one that failed).
    Every error and warning is redacted; ``errors_as_nodata`` is applied here, after redaction.
    """

    def __init__(self, *, signer: BlobSigner, errors_as_nodata=(), **kwargs):
        _redact_library_logs()
        super().__init__(errors_as_nodata=(), **kwargs)
        self._signer = signer
        self._href = self.url
        self._nodata_patterns = tuple(errors_as_nodata)
        self._token: str | None = None        # the token of the current dataset
        self._renew_at: float | None = None   # when the current dataset is to be reopened
        self._refused = False
        self._used = threading.local()        # the (dataset, token) this thread last read with

    def _open(self):
        # called by `dataset` with `_dataset_lock` held
        url, token, renew_at = self._signer.sign(self._href, fresh=self._refused)
        self.url = url
        try:
            dataset = super()._open()
        except Exception as err:
            self._remember(self._dataset, token)                     # what the retry replaces
            message = redact(f"cannot open {self._href} ({_root_cause(err)})")
            if exception_matches(err, self._nodata_patterns):
                warnings.warn(message, stacklevel=2)
                self._token, self._renew_at = token, renew_at     # not reopened at every read
                return NodataReader(dtype=self.dtype, fill_value=self.fill_value)
            raise RemoteReadError(message) from None
        finally:
            self.url = self._href
        self._token, self._renew_at = token, renew_at
        return dataset

    @property
    def dataset(self):
        """The dataset to read now: opened on first use, and reopened with a fresh token once
        the current one's renewal time has come. The replaced dataset is only dropped (never
        closed here): reads in other threads that hold it finish with it."""
        with self._dataset_lock:
            due = self._renew_at is not None and time.time() >= self._renew_at
            if self._dataset is None or due:
                self._dataset = self._open()
            self._remember(self._dataset, self._token)
            return self._dataset

    def _remember(self, dataset, token) -> None:
        # weakly: an idle thread must not keep a replaced dataset (and its connection) open
        self._used.ds = weakref.ref(dataset) if dataset is not None else None
        self._used.token = token

    def read(self, window, **kwargs):
        try:
            return super().read(window, **kwargs)
        except Exception as err:
            failure = err
        blob = self._signer.container_of(self._href) is not None
        if blob and not _NOT_FOUND.search(str(failure)):
            # refused before its time (clock skew, a revoked token): once more with a new token;
            # only the first thread to fail with a dataset replaces it, the others use the new one
            ref, token = getattr(self._used, "ds", None), getattr(self._used, "token", None)
            failed = ref() if ref is not None else None
            with self._dataset_lock:
                if self._dataset is failed:
                    self._signer.forget(self._href, token)
                    self._refused = True
                    self._dataset = None
            try:
                return super().read(window, **kwargs)
            except Exception as err:
                failure = err
        message = str(failure) if isinstance(failure, RemoteReadError) else \
            redact(f"cannot read {self._href} ({_root_cause(failure)})")
        if exception_matches(failure, self._nodata_patterns):
            warnings.warn(message, stacklevel=2)
            return nodata_for_window(window, self.fill_value, self.dtype)
        raise RemoteReadError(message) from None

    def __getstate__(self):
        return {**super().__getstate__(), "url": self._href, "signer": self._signer,
                "errors_as_nodata": self._nodata_patterns}

    def __setstate__(self, state):
        self.__init__(**state)


# -- Earth Search: requester-pays S3 or the https alternate ----------------------------------
def _alternates(asset: dict) -> list[tuple[str, dict]]:
    alt = asset.get("alternate") or {}
    return [(k, v) for k, v in alt.items() if isinstance(v, dict) and v.get("href")] \
        if isinstance(alt, dict) else []


def _requester_pays(entry: dict, asset: dict, item: dict) -> bool:
    props = item.get("properties") or {}
    for where in (entry, asset, props):
        if "storage:requester_pays" in where:
            return bool(where["storage:requester_pays"])
    schemes = props.get("storage:schemes") or {}
    return any(bool((schemes.get(ref) or {}).get("requester_pays"))
               for ref in entry.get("storage:refs", asset.get("storage:refs", [])) or [])


def _region(entry: dict, asset: dict, item: dict) -> str | None:
    props = item.get("properties") or {}
    for where in (entry, asset, props):
        if where.get("storage:region"):
            return str(where["storage:region"])
    return None


def _choose_s3(item: dict, key: str, asset: dict, mode: str) -> tuple[dict, bool, str | None]:
    """The asset to read (href maybe switched to an alternate), whether it is requester-pays S3,
    and its region."""
    https = [(k, v) for k, v in _alternates(asset) if v["href"].startswith(("https://", "http://"))]
    https.sort(key=lambda kv: kv[0] != "https")
    s3 = [(k, v) for k, v in _alternates(asset) if v["href"].startswith("s3://")]
    if asset["href"].startswith("s3://"):
        if mode in ("auto", "https") and https:
            return {**asset, "href": https[0][1]["href"]}, False, None
        pays = _requester_pays(asset, asset, item)
        if mode == "https" and pays:
            raise RemoteAssetError(
                "s3", f"asset {key!r} of item {item.get('id')!r} is in a requester-pays S3 bucket "
                      f"and has no https alternate; use s3='requester-pays' (AWS credentials "
                      f"from the environment).")
        return asset, pays, _region(asset, asset, item)
    if mode == "requester-pays" and s3:          # an https href with an s3 alternate: read from S3
        entry = s3[0][1]
        pays, region = _requester_pays(entry, asset, item), _region(entry, asset, item)
        return {**asset, "href": entry["href"]}, pays, region
    return asset, False, None


def _has_aws_credentials() -> bool:
    env = os.environ
    if any(env.get(v) for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")):
        return True
    shared = env.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials"
    return Path(shared).exists()


# -- the entry point -------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteOptions:
    """What `prepare_assets` accepts (``**options``); see docs/remote-data.md.

    sign : sign Azure blob hrefs (Planetary Computer) at read time (their SAS, if any, is
        dropped from the items); ``False`` leaves every href as it is. Default: ``$CUBEECO_SIGN``
        (``auto``: sign, ``never``: do not), else signing on. ``"auto"``/``"never"`` are accepted too.
    sas_url : the SAS token API; default ``$PC_SDK_SAS_URL`` or the Planetary Computer's.
    subscription_key : Planetary Computer subscription key; default ``$PC_SDK_SUBSCRIPTION_KEY``.
    blob_hosts : hosts ("host:port") serving blobs path-style (``/<account>/<container>/...``);
        default ``$CUBEECO_BLOB_HOSTS`` (comma-separated).
    refresh_margin : seconds before a token's expiry at which it is renewed.
    preflight : fetch one token per container now, so a wrong sas_url fails before any compute.
    s3 : "auto" (https alternate when there is one, else requester-pays S3), "https",
        or "requester-pays"; default ``$CUBEECO_S3`` or "auto".
    s3_endpoint : an S3-compatible endpoint URL (``http://127.0.0.1:9000``) instead of AWS.
    """

    sign: bool | str | None = None
    sas_url: str | None = None
    subscription_key: str | None = field(default=None, repr=False)
    blob_hosts: tuple[str, ...] = ()
    refresh_margin: float = 300.0
    preflight: bool = True
    timeout: float = 30.0
    s3: str = "auto"
    s3_endpoint: str | None = None

    @classmethod
    def from_kwargs(cls, options: dict) -> RemoteOptions:
        known = cls.__dataclass_fields__
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise RemoteAssetError(unknown[0], f"unknown remote-asset option(s) {unknown}; "
                                               f"the options are {sorted(known)}.")
        options = {k: v for k, v in options.items() if v is not None}
        if "s3" not in options and os.environ.get("CUBEECO_S3"):
            options["s3"] = os.environ["CUBEECO_S3"].strip()
        options["sign"] = _sign_option(options)
        opts = cls(**options)
        if opts.s3 not in S3_MODES:
            raise RemoteAssetError("s3", f"s3 must be one of {list(S3_MODES)} (option s3 or "
                                         f"$CUBEECO_S3), got {opts.s3!r}.")
        if isinstance(opts.blob_hosts, str):
            object.__setattr__(opts, "blob_hosts", (opts.blob_hosts,))
        if not isinstance(opts.refresh_margin, (int, float)) or opts.refresh_margin < 0:
            raise RemoteAssetError("refresh_margin", f"refresh_margin must be seconds >= 0, "
                                                     f"got {opts.refresh_margin!r}.")
        endpoint = opts.s3_endpoint
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise RemoteAssetError("s3_endpoint", f"s3_endpoint must be an http(s) URL such as "
                                                  f"'https://s3.example.org', got {endpoint!r}.")
        return opts

    def signer(self) -> BlobSigner:
        """The signer, with defaults from the environment (read now, when the graph is built)."""
        env = os.environ
        key = self.subscription_key or env.get("PC_SDK_SUBSCRIPTION_KEY") or None
        hosts = tuple(self.blob_hosts) or tuple(
            h.strip() for h in env.get("CUBEECO_BLOB_HOSTS", "").split(",") if h.strip())
        sas_url = self.sas_url or env.get("PC_SDK_SAS_URL") or PC_SAS_URL
        return BlobSigner(sas_url=sas_url.rstrip("/"), blob_hosts=hosts,
                          subscription_key=_Secret(key) if key else None,
                          refresh_margin=float(self.refresh_margin), timeout=float(self.timeout))


def _sign_option(options: dict) -> bool:
    """``sign=`` (bool, or "auto"/"never"), else ``$CUBEECO_SIGN`` ("auto"/"never"), else True."""
    if "sign" in options:
        value, where = options["sign"], "option sign"
    else:
        value, where = os.environ.get("CUBEECO_SIGN", "").strip() or "auto", "$CUBEECO_SIGN"
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in SIGN_MODES:
        return value.strip().lower() == "auto"
    raise RemoteAssetError("sign", f"{where} must be one of {list(SIGN_MODES)} ('auto' signs "
                                   f"Planetary Computer blob hrefs, 'never' leaves hrefs as they "
                                   f"are; prepare_assets also takes sign=True/False), got {value!r}.")


def unsigned(href: str) -> str:
    """``href`` without its SAS query parameters (other query kept)."""
    query = parse_qsl(urlsplit(href).query, keep_blank_values=True)
    return with_token(href, "") if any(k in _SAS_PARAMS for k, _ in query) else href


def prepare_assets(items: list[dict], **options) -> tuple[list[dict], dict]:
    """Item dicts whose asset hrefs GDAL can open, and extra ``stackstac.stack`` keyword
    arguments (``reader=``, ``gdal_env=``) that keep them readable during the run.

    Options: see `RemoteOptions` (``sign``, ``sas_url``, ``s3`` ...). Nothing is read here
    except, with ``preflight`` (default), one SAS token per blob container that needs one, so
    that a wrong token API fails before anything is computed. The items are copies (pystac
    Items become dicts). With signing on, blob hrefs lose any SAS they carry (they are signed
    afresh when opened), so no token is in the items or the dask graph; with it off they stay
    as they are. Library log lines are redacted in this process, and (with a credential in an
    href) in every process that reads.
    """
    opts = RemoteOptions.from_kwargs(options)
    signer = opts.signer()
    _redact_library_logs()
    out, blobs, requester_pays, regions = [], set(), False, set()
    for item in items:
        item = item.to_dict(transform_hrefs=False) if hasattr(item, "to_dict") else copy.copy(item)
        assets = dict(item.get("assets") or {})
        for key, asset in assets.items():
            href = asset.get("href") if isinstance(asset, dict) else None
            if not isinstance(href, str):
                continue
            if opts.sign and signer.container_of(href):
                href = unsigned(href)
                assets[key] = {**asset, "href": href}
                blobs.add(href)
            elif href.startswith("s3://") or _alternates(asset):
                assets[key], pays, region = _choose_s3(item, key, asset, opts.s3)
                requester_pays |= pays
                regions |= {region} if pays and region else set()
        item["assets"] = assets
        out.append(item)

    kwargs: dict = {}
    if blobs:
        if opts.preflight:
            for account, container in sorted(_containers_needing_tokens(signer, blobs)):
                signer.token(account, container)
        kwargs["reader"] = functools.partial(SigningReader, signer=signer)
    elif any(_has_secret(a.get("href")) for it in out for a in (it.get("assets") or {}).values()
             if isinstance(a, dict)):
        kwargs["reader"] = RedactingReader          # stackstac logs hrefs on the workers too
    gdal = _gdal_options(opts, requester_pays, regions)
    if gdal or blobs:
        # stackstac's default env, said explicitly so that checks outside stackstac open with
        # it too (without GDAL_DISABLE_READDIR_ON_OPEN GDAL first lists the blob's "directory")
        kwargs["gdal_env"] = DEFAULT_GDAL_ENV.updated(always=gdal) if gdal else DEFAULT_GDAL_ENV
    if blobs or gdal:
        log.info("remote assets: %d blob href(s) signed when read%s", len(blobs),
                 "; requester-pays S3" if requester_pays else "")
    return out, kwargs


def signed_href(href: str, stackstac_kwargs: dict) -> str:
    """The URL to open *now* for ``href``, signed if the `prepare_assets` kwargs sign it.

    For reads outside stackstac (a pre-flight readability check). The result may hold a
    token: open it, never store, log or show it (redact what an error says about it).
    """
    reader = stackstac_kwargs.get("reader")
    signer = getattr(reader, "keywords", {}).get("signer")
    return signer.sign(href)[0] if isinstance(signer, BlobSigner) else href


def _has_secret(href) -> bool:
    return isinstance(href, str) and redact(href) != href


def _containers_needing_tokens(signer: BlobSigner, hrefs) -> set[tuple[str, str]]:
    return {signer.container_of(h) for h in hrefs if signer.needs_token(h)}


def _gdal_options(opts: RemoteOptions, requester_pays: bool, regions: set[str]) -> dict:
    gdal: dict = {}
    if requester_pays:
        gdal["AWS_REQUEST_PAYER"] = "requester"
        if not _has_aws_credentials():
            log.warning("requester-pays S3 assets need AWS credentials (AWS_ACCESS_KEY_ID/"
                        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role); none is in the "
                        "environment. Or read the https alternates with s3='auto'.")
        region_set = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if len(regions) == 1 and not region_set:
            gdal["AWS_REGION"] = regions.pop()
    if opts.s3_endpoint:
        parts = urlsplit(opts.s3_endpoint)
        gdal.update(AWS_S3_ENDPOINT=parts.netloc, AWS_VIRTUAL_HOSTING="FALSE",
                    AWS_HTTPS="YES" if parts.scheme == "https" else "NO")
    return gdal
