"""The teach page in a real browser: headless Chromium teaches a running `camapp run` two classes.

camapp runs as a user starts it (a separate process, --http, the token from the environment) on the
bottle clip at its own speed (its three-bottle and two-bottle stretches back to back), with an
ImageNet classifier. Chromium opens /teach?token=, adds two classes with the page's own form, holds
each class's record button (real mouse presses through the DevTools protocol) while the clip shows
three bottles and then two, presses Build, waits for the report, and presses Use now. /api/status
must then name the taught model and its labels. The screenshot goes into artifacts/teach-panel.png
(docs/img/teach-panel.png, which docs/teach.md shows, is a copy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.cdp import Browser
from tests.outputs.conftest import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "teach-t0ken"
# When each class's button is held: from / before these frames into its stretch of the clip (tests/conftest.py).
SEGMENTS = {"three": (30, 80), "two": (12, 64)}


@pytest.fixture
def camapp_teach(models_dir: Path, three_then_two_bottles: tuple[Path, dict[str, range]], tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = open(tmp_path / "camapp.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "CAMAPP_HTTP_TOKEN": TOKEN, "CAMAPP_TEACH_DIR": str(tmp_path / "bottles"),
           "CAMAPP_TEACH_BACKBONE": str(models_dir / "mobilenet_v1_0.75_192_quant.tflite")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "camapp", "run", "--source", str(three_then_two_bottles[0]), "--realtime", "--loop",
         "--model", str(models_dir / "mobilenet_v1_0.25_128_quant.tflite"), "--labels", str(models_dir / "imagenet_labels.txt"),
         "--http", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL, env=env,
    )
    try:
        wait_until(lambda: b"web view on" in (tmp_path / "camapp.log").read_bytes() or proc.poll() is not None, 60, "the web server")
        assert proc.poll() is None, (tmp_path / "camapp.log").read_text()
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def status(base: str) -> dict[str, Any]:
    req = urllib.request.Request(base + "api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())  # type: ignore[no-any-return]


def frame_now(base: str) -> int:
    results = status(base)["results"]
    return int(results["frame"]) if results else -1


def hold(browser: Browser, tab: str, label: str, seconds: float) -> None:
    """Press the class card's record button with the mouse, keep it down, let go."""
    box = browser.evaluate(tab, f"""(() => {{
        const card = [...document.querySelectorAll('.card')].find((c) => c.dataset.name === {json.dumps(label)});
        const r = card.querySelector('button.hold').getBoundingClientRect();
        return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
    }})()""")
    point = {"x": box["x"], "y": box["y"], "button": "left", "clickCount": 1}
    browser.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **point}, session=tab)
    browser.send("Input.dispatchMouseEvent", {"type": "mousePressed", "buttons": 1, **point}, session=tab)
    time.sleep(seconds)
    browser.send("Input.dispatchMouseEvent", {"type": "mouseReleased", **point}, session=tab)


@pytest.mark.slow
def test_chromium_teaches_two_classes_from_the_video_builds_and_uses_the_model(
    camapp_teach: str, three_then_two_bottles: tuple[Path, dict[str, range]], tmp_path: Path
) -> None:
    base, stretches = camapp_teach, three_then_two_bottles[1]
    browser = Browser(tmp_path / "profile")
    js = browser.evaluate
    try:
        tab = browser.open(base + "teach?token=" + TOKEN)
        wait_until(lambda: js(tab, "document.querySelectorAll('.card').length") == 1, 30, "the background card")
        wait_until(lambda: js(tab, "document.getElementById('view').naturalWidth") == 640, 30, "the live view")
        for name in SEGMENTS:
            js(tab, f"document.getElementById('newname').value = {json.dumps(name)}; document.getElementById('add').click()")
            wait_until(lambda name=name: js(tab, f"[...document.querySelectorAll('.card')].some((c) => c.dataset.name === '{name}')"),
                       10, f"the {name} card")
        for name, (after, before) in SEGMENTS.items():
            first, last = stretches[name].start + after, stretches[name].start + before
            wait_until(lambda first=first: frame_now(base) >= first, 90, f"frame {first} of the clip")
            assert frame_now(base) < last, "the clip ran past the stretch to teach"
            hold(browser, tab, name, 1.5)
        counts = wait_until(lambda: (c := js(tab, "Object.fromEntries([...document.querySelectorAll('.card')].map((c) => "
                                                  "[c.dataset.name, c.querySelectorAll('.thumbs img').length]))"))
                            and c["two"] >= 5 and c["three"] >= 5 and c, 20, "the thumbnails of both classes")
        assert counts["background"] == 0 and counts["two"] <= 8 and counts["three"] <= 8, counts
        assert not js(tab, "document.querySelector('.card.rec')"), "a recording outlived its button"
        bars = wait_until(lambda: js(tab, "[...document.querySelectorAll('#bars .bar')].map((b) => b.innerText)"), 30, "the live bars")
        assert len(bars) == 2

        js(tab, "document.getElementById('build').click()")
        report = wait_until(lambda: js(tab, "document.getElementById('report').textContent"), 60, "the build report")
        assert "held-out accuracy" in report and "examples: three" in report, report
        wait_until(lambda: not js(tab, "document.getElementById('use').disabled"), 10, "Use now to be offered")
        js(tab, "document.getElementById('use').click()")
        wait_until(lambda: js(tab, "document.getElementById('model').textContent") == "bottles", 30, "the page to show the taught model")
        after = wait_until(lambda: (s := status(base))["model"] == "bottles" and s["results"] and s["results"]["frame"] and s, 20, "status")
        labels = {c["label"] for c in after["results"]["classes"]}
        assert {"three", "two"} <= labels <= {"three", "two", "unknown"}, after["results"]
        # The header's top class follows the taught model before the screenshot is taken.
        wait_until(lambda: js(tab, "document.getElementById('top').textContent").split(" ")[0] in labels, 10, "the page's top class")
        shot = REPO / "artifacts" / "teach-panel.png"  # docs/img/teach-panel.png is a copy of one, for docs/teach.md
        shot.parent.mkdir(exist_ok=True)
        browser.screenshot(tab, shot)
    finally:
        browser.close()
    assert shot.stat().st_size > 20_000
