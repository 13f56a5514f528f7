"""Progress lines: drawn on a terminal, erased when done, never written to a pipe or a service log."""

from __future__ import annotations

import io
import logging
import os
import sys
import time

import pytest

from camapp.commands.run import file_progress
from camapp.progress import Progress, wanted, watch
from camapp.sources.length import expected_frames
from tests.terminal import Terminal, screen_lines


@pytest.fixture
def term(monkeypatch):
    """A terminal for stderr. pytest puts its own capture back on sys.stderr when the test body
    starts, so each test points sys.stderr at the terminal itself (on_terminal)."""
    monkeypatch.setenv("TERM", "xterm")
    with Terminal() as t:
        yield t


def on_terminal(term: Terminal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", term.stream)


def wait_for(term: Terminal, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in term.text:
        assert time.monotonic() < deadline, f"{text!r} never appeared on the terminal: {term.text!r}"
        time.sleep(0.02)


def test_on_a_terminal_the_line_shows_what_is_done_and_is_erased_at_the_end(term, monkeypatch):
    on_terminal(term, monkeypatch)
    with Progress("bench models", 4, "step") as bar:
        bar.describe("model 1/2 mobilenet_v1_0.25_128_quant, 1 thread")
        bar.update()
        assert bar.enabled
    term.stream.write("summary line\n")
    screen = term.finish()
    assert "model 1/2 mobilenet_v1_0.25_128_quant, 1 thread" in screen and "/4" in screen
    assert [line for line in screen_lines(screen) if line] == ["summary line"]  # nothing of the bar is left


def test_a_line_that_waits_for_the_first_step_draws_nothing_before_it(term, monkeypatch):
    on_terminal(term, monkeypatch)
    with Progress("bench pipeline", 3, "step", draw_now=False) as bar:
        term.stream.write("INFO: the runtime's own banner\n")  # what LiteRT prints when the first model loads
        bar.describe("2 threads, round 1/3: invoke_only")
        bar.update()
    lines = [line for line in screen_lines(term.finish()) if line]
    assert lines == ["INFO: the runtime's own banner"]  # a clean line: no bar was drawn before it
    assert "round 1/3: invoke_only" in term.text


@pytest.mark.parametrize("kind", ["pipe", "file", "stringio"])
def test_nothing_at_all_when_stderr_is_not_a_terminal(kind, tmp_path, monkeypatch):
    if kind == "pipe":
        read_fd, write_fd = os.pipe()
        stream = open(write_fd, "w")  # noqa: SIM115 - closed below
    elif kind == "file":
        stream = open(tmp_path / "log.txt", "w")  # noqa: SIM115 - closed below
    else:
        stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with Progress("downloading", 100, "B", in_bytes=True) as bar:
        bar.update(50)
        bar.describe("still going")
        assert not bar.enabled
    with watch(lambda: 3, "frames", 10) as watched:
        assert not watched.enabled
    if kind == "pipe":
        stream.close()
        assert os.read(read_fd, 1000) == b""
        os.close(read_fd)
    elif kind == "file":
        stream.close()
        assert (tmp_path / "log.txt").read_text() == ""
    else:
        assert stream.getvalue() == ""


def test_quiet_and_a_dumb_terminal_get_nothing(term, monkeypatch):
    on_terminal(term, monkeypatch)
    assert wanted()
    assert not wanted(quiet=True)
    with Progress("x", 2, quiet=True) as bar:
        bar.update()
    monkeypatch.setenv("TERM", "dumb")  # Emacs shell buffers and the like cannot redraw a line
    assert not wanted()
    with Progress("y", 2) as bar:
        bar.update()
    assert term.finish() == ""


def test_log_records_go_above_the_line_not_through_it(term, monkeypatch):
    on_terminal(term, monkeypatch)
    root = logging.getLogger()
    handler = logging.StreamHandler(term.stream)
    root.addHandler(handler)
    try:
        with Progress("frames", 10, "frame") as bar:
            bar.update(3)
            logging.getLogger("camapp.test").warning("camera 1 reconnected")
            bar.update(3)
        assert handler.stream is term.stream  # given back afterwards
    finally:
        root.removeHandler(handler)
    lines = [line for line in screen_lines(term.finish()) if line]
    assert lines == ["camera 1 reconnected"]  # a whole line of its own; the bar itself was erased


def test_watch_polls_a_counter_from_its_own_thread(term, monkeypatch):
    on_terminal(term, monkeypatch)
    done = [0]
    with watch(lambda: done[0], "frames", 40) as bar:
        assert bar.enabled
        done[0] = 17
        wait_for(term, "17/40")  # the work never called the bar: the watcher read the counter
        done[0] = 40
        wait_for(term, "40/40")
    screen = term.finish()
    assert "frame/s" in screen  # the rate (FPS) is on the line
    assert not any(screen_lines(screen))


def test_expected_frames_comes_from_the_container_the_folder_and_max_frames(videos_dir, images_dir):
    video = str(videos_dir / "bottle-detection.mp4")
    assert expected_frames(video, loop=False, max_frames=None) == 1189  # VIDEOS.md
    assert expected_frames(video, loop=False, max_frames=50) == 50
    assert expected_frames(video, loop=True, max_frames=None) is None  # endless: count and rate only
    assert expected_frames(video, loop=True, max_frames=300) == 300
    assert expected_frames(str(images_dir), loop=False, max_frames=None) == 8
    assert expected_frames(str(images_dir / "*.bmp"), loop=False, max_frames=None) == 3


def test_a_camera_or_stream_gets_no_line_even_on_a_terminal(term, monkeypatch):
    on_terminal(term, monkeypatch)

    class Camera:
        is_live = True  # runs until stopped: a frame counter without an end says nothing useful

    with file_progress(Camera(), None, None) as bar:  # type: ignore[arg-type]
        assert bar is None
    assert term.finish() == ""
