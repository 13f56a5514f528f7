"""Credentials in source URLs never leave the process: what is shown or sent is a redacted copy.

Nearly every IP camera is addressed as rtsp://user:password@camera/..., and some take a token in
the query (?token=..., &key=...). The real URL is used only to open the stream; everything that
shows or sends a source (logs, errors, /api/status, the page, events, MQTT, metrics) gets this
form: the password (or a bare userinfo, which may itself be a token) becomes ***, and so do query
values whose names look like secrets.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Query parameter names that carry secrets: password, passwd, pwd, pass, token, access_token,
# api_key, apikey, key, secret, auth, sig/signature, credential(s), session.
_SECRET_NAME = re.compile(r"(pass|pwd|token|key|secret|auth|sig|credential|session)", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([^&=;]+)=([^&;]*)")


def redact_url(text: str) -> str:
    """`text` with credentials masked when it is a URL; any other string unchanged."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        return _redact_loosely(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = _QUERY_PAIR.sub(lambda m: f"{m.group(1)}={MASK}" if _SECRET_NAME.search(m.group(1)) else m.group(0), parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_loosely(text: str) -> str:
    """For strings urlsplit refuses (a bad port, brackets): mask anything between :// and the last @."""
    scheme, _, rest = text.partition("://")
    if "@" in rest.split("/", 1)[0]:
        rest = f"{MASK}@{rest.split('/', 1)[0].rsplit('@', 1)[1]}" + (f"/{rest.split('/', 1)[1]}" if "/" in rest else "")
    return f"{scheme}://{rest}"


_FREE_PAIR = re.compile(r"([A-Za-z0-9_.-]+)=([^&;\s\"']*)")


def redact_query_values(text: str) -> str:
    """Free text (an HTTP request line) with the values of secret-looking name=value pairs masked:
    `GET /stream.mjpg?token=abc HTTP/1.1` -> `GET /stream.mjpg?token=*** HTTP/1.1`."""
    return _FREE_PAIR.sub(lambda m: f"{m.group(1)}={MASK}" if _SECRET_NAME.search(m.group(1)) else m.group(0), text)
