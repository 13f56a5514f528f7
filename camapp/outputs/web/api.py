"""What the web view's JSON routes share: the request body, the reply, and a one-line error."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

Reply = tuple[HTTPStatus, str, bytes]  # status, content type, body
JSON = "application/json"


class ApiError(Exception):
    """A one-line answer to bad input: {"error": message} with this status."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def json_body(body: bytes, example: str = "") -> dict[str, Any]:
    """A POST's JSON object ({} for an empty body), or an ApiError saying what was wrong."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"the body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ApiError("the body must be a JSON object" + (f", e.g. {example}" if example else ""))
    return value


def json_reply(body: dict[str, Any], status: HTTPStatus = HTTPStatus.OK) -> Reply:
    return status, JSON, json.dumps(body, separators=(",", ":")).encode()
