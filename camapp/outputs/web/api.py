"""What the web view's JSON routes share: the request body, the reply, a one-line error, and a
model switch that answers once the page names the new model."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from camapp.control import ControlChannel, SwitchModel

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


def switch_model(controls: ControlChannel, command: SwitchModel, timeout: float, shown: Callable[[], str] | None = None) -> bool:
    """Send a model switch; True once the worker took it and, given `shown` (the model the web view
    names), once the outputs heard of it too: the notice reaches them on the output thread a moment
    after the worker, and an answer of 200 promises that /api/status names the new model."""
    if not controls.send(command).wait(timeout):
        return False
    deadline = time.monotonic() + timeout
    while shown is not None and shown() != command.change.name and time.monotonic() < deadline:
        time.sleep(0.01)
    return True
