"""Credentials never leave the process: redaction rules for every string that is
stored (Zarr attributes, provenance, run logs, reports) or printed (errors, logs).

Rules, applied to any text (URLs inside longer strings included):
- URL query parameters whose name says credential (``token``, ``sig``, ``key``,
  ``password``, ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``,
  Azure SAS fields such as ``se``/``sp``/``sv``/``skoid``...) keep their name, lose their value;
- ``user:password@`` in a URL loses the password;
- AWS access key ids (``AKIA...``/``ASIA...``) and ``aws_secret_access_key``-style
  assignments, and ``Authorization: Bearer ...`` headers lose their value.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "REDACTED"

# query parameters that carry a secret or are part of a signature (Azure SAS, AWS SigV4, generic)
_SECRET_PARAMS = (
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "apikey", "api_key",
    "api-key", "key", "secret", "password", "passwd", "pwd", "sig", "signature", "sas", "code",
    # Azure SAS
    "se", "st", "sp", "sv", "sr", "spr", "skoid", "sktid", "skt", "ske", "sks", "skv", "sip", "ss", "srt",
    "saoid", "suoid", "scid", "sdd", "ses",
    # AWS SigV4 presigned URLs
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-amz-date", "x-amz-expires",
    "awsaccesskeyid", "x-goog-signature", "x-goog-credential",
)
_PARAM_RE = re.compile(
    r"(?P<sep>[?&;])(?P<name>" + "|".join(re.escape(p) for p in sorted(_SECRET_PARAMS, key=len, reverse=True))
    + r")=(?P<value>[^&#\s'\"<>]*)",
    re.IGNORECASE,
)
_USERINFO_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s'\"]+):(?P<pw>[^@/\s'\"]+)@")
_AWS_KEY_ID_RE = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")
_ASSIGN_RE = re.compile(
    r"(?P<name>aws_secret_access_key|aws_session_token|secret_access_key|session_token|client_secret|password)"
    r"(?P<eq>['\"]?\s*[:=]\s*['\"]?)(?P<value>[^\s'\",}]+)",
    re.IGNORECASE,
)
_BEARER_RE = re.compile(r"(?P<kind>Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    """``text`` with every credential it contains replaced by ``REDACTED``."""
    if not isinstance(text, str) or not text:
        return text
    text = _PARAM_RE.sub(lambda m: f"{m['sep']}{m['name']}={MASK}" if m["value"] else m[0], text)
    text = _USERINFO_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _AWS_KEY_ID_RE.sub(MASK, text)
    text = _ASSIGN_RE.sub(lambda m: f"{m['name']}{m['eq']}{MASK}", text)
    text = _BEARER_RE.sub(lambda m: f"{m['kind']} {MASK}", text)
    return text


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like object (dicts, lists, strings, numbers) with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
