"""Credentials never leave the process: redaction rules for every string that is
stored (Zarr attributes, provenance, run logs, reports) or printed (errors, logs).

Rules, applied to any text (URLs inside longer strings included):
- URL query parameters whose name says credential (``token``, ``sig``, ``key``,
  ``password``, ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``,
  Azure SAS fields such as ``se``/``sp``/``sv``/``skoid``...) keep their name, lose their value;
- ``user:password@`` in a URL loses the password (one holding ``/`` or ``@`` too);
- any other query parameter whose name ends in ``token``, ``secret``, ``password``,
  ``signature``, ``credential`` or ``_key`` (``api_token``, ``private_key``...) likewise;
- AWS access key ids (``AKIA...``/``ASIA...``), GitHub tokens, ``aws_secret_access_key``-,
  ``password``-, ``token``-style assignments (``name=value``, ``name: value``, a dict's
  repr, Azure ``AccountKey=...``, headers such as ``x-api-key: ...``), and ``Authorization: Bearer/Basic ...`` headers lose
  their value;
- in :func:`redact_obj`, the value of a dict key named like a secret (``{"token": ...}``).

Harmless URLs (STAC searches with ``bbox``, ``datetime``, ``limit``, ``collections``;
paths that merely contain the word ``token``) are left as they are (tests/test_redact.py).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "REDACTED"

# query parameters that carry a secret or are part of a signature (Azure SAS, AWS SigV4, generic)
_SECRET_PARAMS = (
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "apikey",
    "api_key",
    "api-key", "key", "secret", "password", "passwd", "pwd", "sig", "signature", "sas", "code",
    # Azure SAS
    "se", "st", "sp", "sv", "sr", "spr", "skoid", "sktid", "skt", "ske", "sks", "skv", "sip", "ss",
    "srt",
    "saoid", "suoid", "scid", "sdd", "ses",
    # AWS SigV4 presigned URLs
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-amz-date", "x-amz-expires",
    "awsaccesskeyid", "x-goog-signature", "x-goog-credential",
)
# names that end like a credential (api_token, private_key, x-ms-signature...)
# ("monkey" or "sortkey" are not keys: "key" counts after a separator or as apikey/accountkey)
_SECRET_SUFFIX = (r"[A-Za-z0-9_.-]*(?:token|secret|password|passwd|signature|credential"
                  r"|[_.-]key|apikey|accesskey|accountkey)")
_PARAM_RE = re.compile(
    r"(?P<sep>[?&;])(?P<name>"
    + "|".join(re.escape(p) for p in sorted(_SECRET_PARAMS, key=len, reverse=True))
    + "|" + _SECRET_SUFFIX + r")=(?P<value>[^&#\s'\"<>]*)",
    re.IGNORECASE,
)
# the password may hold "/" (AWS secret keys) or "@" (up to the last "@" before the host);
# "host:8080/path" is a port, not a password
_USERINFO_RE = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]*):"
    r"(?P<pw>(?!\d{1,5}(?:[/?#\s'\"]|$))[^\s'\"?#]+)"
    r"@(?=[^@/\s'\"?#]*(?:[/?#\s'\"]|$))")
_TOKEN_RE = re.compile(r"\b(?:(?:AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,})\b")
_ASSIGN_NAMES = ("aws_secret_access_key", "aws_session_token", "secret_access_key",
                 "session_token", "client_secret", "password", "passwd", "accountkey",
                 "sharedaccesssignature", "access_token", "refresh_token", "sas_token", "api_key",
                 "apikey", "token", "secret",
                 # headers: x-api-key, Ocp-Apim-Subscription-Key, x-functions-key, ...
                 r"[a-z0-9_-]*(?:api-key|subscription-key|functions-key|secret[_-]key"
                 r"|account[_-]key|access[_-]key)")
_ASSIGN_RE = re.compile(
    r"(?P<name>" + "|".join(_ASSIGN_NAMES) + r")"
    r"(?P<eq>['\"]?\s*[:=]\s*['\"]?)(?P<value>[^\s'\",;}&]+)",
    re.IGNORECASE,
)
# "Bearer <token>" anywhere; "Basic <b64>" only in a header ("Basic statistics" is prose);
# a token has a digit or punctuation, so "Bearer authentication" stays
_BEARER_RE = re.compile(
    r"(?P<kind>Bearer|(?<=Authorization: )Basic)\s+"
    r"(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}")
_SECRET_KEY_RE = re.compile(r"^(?:" + "|".join(_ASSIGN_NAMES) + "|" + _SECRET_SUFFIX + r")$",
                            re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every credential it contains replaced by ``REDACTED``."""
    if not isinstance(text, str) or not text:
        return text
    text = _PARAM_RE.sub(lambda m: f"{m['sep']}{m['name']}={MASK}" if m["value"] else m[0], text)
    text = _USERINFO_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _TOKEN_RE.sub(MASK, text)
    text = _ASSIGN_RE.sub(lambda m: f"{m['name']}{m['eq']}{MASK}", text)
    text = _BEARER_RE.sub(lambda m: f"{m['kind']} {MASK}", text)
    return text


def _is_secret_key(key) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY_RE.match(key))


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like object (dicts, lists, strings, numbers) with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k:
                MASK if _is_secret_key(k) and v not in (None, "") else redact_obj(v)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
