"""Zones and lines drawn on the live picture, in a real browser: headless Chromium drives a running `camapp run`.

camapp runs as a user starts it (a separate process, --config FILE without zones, the token from
the environment) with SSD-MobileNet V1 on the bottle clip at its own speed. Chromium opens the page,
and with real mouse input (CDP Input events, so the page's own pointer handlers run) draws a shelf
zone corner by corner, drags a corner, names it, draws a line, and applies: camapp counts the
bottles in the zone from then on. A bad name is refused with the config's message on the page. Then
on a phone-sized screen a second line is drawn with touches. Saved to the config file, the zones are
there after a restart. Screenshot: artifacts/zones_editor_chromium.png (docs/img/zones-editor.png).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.browser.cdp import Browser
from tests.browser.test_control_page import api, artifacts_dir, bottle_config, camapp, click, page_of
from tests.outputs.conftest import wait_until

SSD = "ssd_mobilenet_v1_coco_quant"


class Picture:
    """Mouse and touch input at points of the live picture given as 0..1 of its width and height."""

    def __init__(self, browser: Browser, tab: str) -> None:
        self.browser, self.tab = browser, tab

    def _at(self, x: float, y: float) -> tuple[float, float]:
        r = self.browser.evaluate(self.tab, "(r => [r.left, r.top, r.width, r.height])(areasvg.getBoundingClientRect())")
        return r[0] + x * r[2], r[1] + y * r[3]

    def _mouse(self, kind: str, x: float, y: float, buttons: int) -> None:
        px, py = self._at(x, y)
        self.browser.send("Input.dispatchMouseEvent", {"type": kind, "x": px, "y": py, "button": "left", "buttons": buttons,
                                                       "clickCount": 1}, session=self.tab)

    def click(self, x: float, y: float) -> None:
        self._mouse("mousePressed", x, y, 1)
        self._mouse("mouseReleased", x, y, 0)

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self._mouse("mousePressed", *start, 1)
        for i in range(1, 6):
            self._mouse("mouseMoved", start[0] + (end[0] - start[0]) * i / 5, start[1] + (end[1] - start[1]) * i / 5, 1)
        self._mouse("mouseReleased", *end, 0)

    def tap(self, x: float, y: float) -> None:
        px, py = self._at(x, y)
        self.browser.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": px, "y": py}]}, session=self.tab)
        self.browser.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []}, session=self.tab)


def type_into(browser: Browser, tab: str, element: str, value: str) -> None:
    """As typing does: the value changes, then input and change events fire."""
    browser.evaluate(tab, f"(() => {{ const e = document.getElementById({json.dumps(element)}); e.value = {json.dumps(value)};"
                          f" e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); }})()")


def close(a: list[float], b: list[float], tolerance: float = 0.01) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b, strict=True))


def shelf_occupied(base: str) -> Any:
    return api(base, "/api/status")[1].get("zones", {}).get("shelf", {}).get("occupied")


@pytest.mark.slow
def test_zones_and_lines_are_drawn_on_the_picture_applied_live_and_saved(models_dir: Path, videos_dir: Path, tmp_path: Path) -> None:
    config = bottle_config(tmp_path / "camapp.yaml", models_dir, videos_dir, SSD, tracking={"state_file": str(tmp_path / "counts.json")})
    artifacts = artifacts_dir()
    with page_of(config, tmp_path) as (browser, base, tab):
        js = browser.evaluate
        wait_until(lambda: js(tab, "!zonebox.hidden"), 30, "the zones editor")
        click(browser, tab, "#zones_edit")
        wait_until(lambda: js(tab, "!areasvg.hidden && !zone_tools.hidden"), 10, "the drawing surface")
        picture = Picture(browser, tab)

        # A zone, corner by corner; clicking the first corner again closes it.
        click(browser, tab, "#zone_new")
        for x, y in [(0.02, 0.25), (0.98, 0.25), (0.98, 0.98), (0.02, 0.98), (0.02, 0.25)]:
            picture.click(x, y)
        assert js(tab, "areas.zones.length") == 1 and js(tab, "zone_form.hidden") is False
        picture.drag((0.02, 0.25), (0.02, 0.15))  # the selected zone's first corner, moved up
        type_into(browser, tab, "area_name", "shelf")
        type_into(browser, tab, "area_labels", "bottle")
        type_into(browser, tab, "area_anchor", "center")
        type_into(browser, tab, "area_events", "presence")
        # A line: two clicks.
        click(browser, tab, "#line_new")
        picture.click(0.5, 0.05)
        picture.click(0.5, 0.95)
        assert js(tab, "document.querySelectorAll('#areasvg line').length") == 1
        assert js(tab, "document.querySelectorAll('#areasvg polygon').length") == 1

        # A name the config would refuse: the page shows the config's own message, nothing changes.
        click(browser, tab, "#zone_list button")
        type_into(browser, tab, "area_name", "top shelf")
        click(browser, tab, "#zones_apply")
        wait_until(lambda: "zones.0.name" in js(tab, "zonemsg.textContent"), 10, "the refusal")
        assert "letters, digits" in js(tab, "zonemsg.textContent") and api(base, "/api/zones")[1] == {"zones": [], "lines": []}
        type_into(browser, tab, "area_name", "shelf")
        click(browser, tab, "#zones_apply")
        wait_until(lambda: js(tab, "zonemsg.textContent").startswith("counting in 1 zone(s) and across 1 line(s)"), 10, "apply")

        zones = api(base, "/api/zones")[1]
        (shelf,), (line,) = zones["zones"], zones["lines"]
        assert shelf["name"] == "shelf" and shelf["labels"] == ["bottle"] and shelf["anchor"] == "center"
        assert shelf["events"] == "presence" and close(shelf["polygon"][0], [0.02, 0.15]) and close(shelf["polygon"][2], [0.98, 0.98])
        assert line["name"] == "line1" and close(line["start"], [0.5, 0.05]) and close(line["end"], [0.5, 0.95])
        wait_until(lambda: shelf_occupied(base), 20, "the bottles counted in the drawn zone")
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1100, "deviceScaleFactor": 1, "mobile": False},
                     session=tab)
        time.sleep(2.0)  # the picture's own overlay shows the counted zone, the charts a few points
        browser.screenshot(tab, artifacts / "zones_editor_chromium.png")

        # On a phone: a second line drawn with two touches.
        browser.send("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
                     session=tab)
        browser.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1}, session=tab)
        js(tab, "areasvg.scrollIntoView()")
        click(browser, tab, "#line_new")
        picture.tap(0.1, 0.1)
        picture.tap(0.9, 0.1)
        assert js(tab, "areas.lines.length") == 2 and close(js(tab, "areas.lines[1].end"), [0.9, 0.1], 0.02)
        click(browser, tab, "#zones_apply")
        wait_until(lambda: len(api(base, "/api/zones")[1]["lines"]) == 2, 10, "the second line")
        assert js(tab, "document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

        # A setting changed from elsewhere (another page, a script) shows in this page's form.
        assert api(base, "/api/settings", body={"every": 2})[0] == 200
        wait_until(lambda: js(tab, "every.value") == "2", 10, "the form to show the other client's change")

        click(browser, tab, "#save")
        wait_until(lambda: js(tab, "ctlmsg.textContent").startswith("saved "), 10, "the save")
    saved = yaml.safe_load(config.read_text())
    assert saved["pipeline"]["every"] == 2
    assert [z["name"] for z in saved["zones"]] == ["shelf"] and [x["name"] for x in saved["lines"]] == ["line1", "line2"]
    with camapp(config, tmp_path / "camapp2.log") as base:  # the restart: counting from the first frame
        assert [z["name"] for z in api(base, "/api/zones")[1]["zones"]] == ["shelf"]
        wait_until(lambda: shelf_occupied(base), 20, "the shelf occupied after the restart")
    assert (artifacts / "zones_editor_chromium.png").stat().st_size > 20_000
