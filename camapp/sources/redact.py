"""Credentials in source URLs never leave the process: what is shown or sent is a redacted copy.

Nearly every IP camera is addressed as rtsp://user:password@camera/..., and some take a token in
the query (?token=..., &key=...). The real URL is used only to open the stream; everything that
shows or sends a source (logs, errors, /api/status, the page, events, MQTT, metrics) gets this
form: the password (or a bare userinfo, which may itself be a token) becomes ***, and so do query
values whose names look like secrets.
"""

from __future__ import annotations

import re

MASK = "***"
# Names of name=value pairs that carry secrets: password, passwd, pwd, pass, token, access_token,
# api_key, apikey, key, secret, auth, sig/signature, credential(s), session.
_SECRET_NAME = re.compile(r"(pass|pwd|token|key|secret|auth|sig|credential|session)", re.IGNORECASE)
_PAIR = re.compile(r"([A-Za-z0-9_.-]+)=([^&;#\s\"']*)")


def redact_query_values(text: str) -> str:
    """`text` (a query string, an HTTP request line) with the values of secret-looking name=value
    pairs masked: `GET /stream.mjpg?token=abc HTTP/1.1` -> `GET /stream.mjpg?token=*** HTTP/1.1`."""
    return _PAIR.sub(lambda m: f"{m.group(1)}={MASK}" if _SECRET_NAME.search(m.group(1)) else m.group(0), text)


def redact_url(text: str) -> str:
    """`text` with credentials masked when it is a URL; any other string unchanged."""
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    # The authority ends at the first /, ? or #; its userinfo ends at its last @ (RFC 3986). Split by
    # hand rather than with urlsplit, which refuses some strings a camera URL can hold ("[fe80::1").
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"  # a bare userinfo may be a token
    return f"{scheme}://{authority}{redact_query_values(tail)}"
