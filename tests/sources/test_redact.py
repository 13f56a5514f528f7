"""Credentials in source URLs are masked wherever a URL is shown or sent."""

from __future__ import annotations

import pytest

from camapp.sources.redact import redact_query_values, redact_url
from camapp.sources.spec import parse_source


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101", "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
        ("rtsp://s3cr3tt0ken@cam.lan/live", "rtsp://***@cam.lan/live"),  # a bare userinfo may itself be a token
        ("http://cam/video.mjpg?token=abc&res=hd", "http://cam/video.mjpg?token=***&res=hd"),
        ("https://u:p@cam:8443/x?api_key=1&pwd=2&user=me", "https://u:***@cam:8443/x?api_key=***&pwd=***&user=me"),
        ("rtsp://cam/live?user=a&password=b;channel=1", "rtsp://cam/live?user=a&password=***;channel=1"),
        ("rtsp://u:p@[fe80::1]:bad/x", "rtsp://u:***@[fe80::1]:bad/x"),  # a port that is not a number
        ("rtsp://u:p@[fe80::1/x?token=t", "rtsp://u:***@[fe80::1/x?token=***"),  # urlsplit refuses this one
        ("http://cam?key=k#frag", "http://cam?key=***#frag"),
    ],
)
def test_urls_lose_passwords_tokens_and_keys(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("text", ["picam", "0", "/dev/video0", "/home/pi/clips/me@home.mp4", "shots/*.jpg"])
def test_anything_that_is_not_a_url_is_shown_as_it_is(text: str) -> None:
    assert redact_url(text) == text


def test_a_source_spec_opens_the_real_url_and_shows_the_masked_one() -> None:
    spec = parse_source("rtsp://admin:hunter2@cam/live")
    assert spec.target == "rtsp://admin:hunter2@cam/live"
    assert spec.display == "rtsp://admin:***@cam/live" and "hunter2" not in spec.describe()


def test_request_lines_never_carry_a_token_into_a_log() -> None:
    assert redact_query_values('"GET /stream.mjpg?token=t0k&fps=5 HTTP/1.1" 200 -') == '"GET /stream.mjpg?token=***&fps=5 HTTP/1.1" 200 -'
