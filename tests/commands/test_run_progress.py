"""`camapp run` on a file shows frames done / total, FPS and ETA on a terminal, and nothing in a pipe."""

from __future__ import annotations

import re

import pytest

from tests.commands.conftest import run_camapp
from tests.terminal import run_in_terminal, screen_lines

SUMMARY = re.compile(r"^frames read 45, processed 45, skipped 0, mean FPS [\d.]+, inference ms p50 [\d.]+ / p95 [\d.]+$")


def run_args(videos_dir) -> list[str]:  # type: ignore[no-untyped-def]
    # --realtime paces the file at its own 30 fps, so the line is redrawn a few times on its way.
    source = str(videos_dir / "bottle-detection.mp4")
    return ["run", "--source", source, "--model", "mobilenet_v1_0.25_128_quant", "--realtime", "--max-frames", "45"]


@pytest.mark.slow
def test_a_file_run_on_a_terminal_shows_frames_of_total_fps_and_eta_then_erases_it(videos_dir):
    result = run_in_terminal(*run_args(videos_dir))
    assert result.code == 0, result.screen
    drawn = [d for d in result.screen.split("\r") if d.startswith("frames:")]
    assert any("0/45" in d for d in drawn)  # the total is the clip's frame count, capped by --max-frames
    moving = [d for d in drawn if re.search(r"\| ?\d+/45 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+frame/s\]", d)]
    assert moving, drawn  # frames done / total, elapsed < ETA, frames per second
    # Erased before the summary: the screen ends with the summary, on a line of its own.
    lines = [line for line in screen_lines(result.screen) if line]
    assert SUMMARY.match(lines[-1]), lines[-1]
    assert not any("frame/s" in line for line in lines)
    assert result.screen.index("frames read 45") > result.screen.rindex("frame/s")


@pytest.mark.slow
def test_a_file_run_into_a_pipe_writes_no_progress_at_all(videos_dir):
    result = run_camapp(*run_args(videos_dir))
    assert result.code == 0, result.stderr
    assert "\r" not in result.stderr and "frame/s" not in result.stderr and "%|" not in result.stderr
    assert SUMMARY.match(result.stderr.splitlines()[-1])
