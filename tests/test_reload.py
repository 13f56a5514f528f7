"""SIGHUP reloads the config and the model; whatever is broken in the new one, the old one keeps running."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_process import CamappProcess, NotifySocket, json_lines, wait_until

CLASSIFIER = "mobilenet_v1_0.25_128_quant.tflite"
DETECTOR = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"


def write_config(path: Path, video: Path, model: Path, results: Path, extra: str = "") -> None:
    path.write_text(
        f"source:\n  uri: {video}\n  loop: true\n  realtime: true\nmodel:\n  name: {model}\noutput:\n  jsonl: {results}\n{extra}"
    )


@pytest.fixture
def running(tmp_path: Path, videos_dir: Path, models_dir: Path) -> Iterator[tuple[CamappProcess, NotifySocket, Path, Path]]:
    """camapp run --config camapp.yaml on a looping clip, with its model copied where the test can break it."""
    model = tmp_path / "model.tflite"
    model.write_bytes((models_dir / CLASSIFIER).read_bytes())
    config, results = tmp_path / "camapp.yaml", tmp_path / "results.jsonl"
    write_config(config, videos_dir / "bottle-detection.mp4", model, results)
    notify = NotifySocket(tmp_path)
    proc = CamappProcess(["run", "--config", str(config)], tmp_path, {"NOTIFY_SOCKET": notify.address})
    try:
        wait_until(lambda: notify.count("READY=1") == 1 and len(json_lines(results)) > 5, what="a running service", proc=proc)
        yield proc, notify, config, results
        code, _ = proc.stop(timeout=5)
        assert code == 0, proc.log()
    finally:
        proc.kill()
        notify.close()


def reload_and_wait(proc: CamappProcess, notify: NotifySocket, results: Path) -> int:
    """SIGHUP, then wait for the READY=1 that ends the reload; returns the JSON line count at that time."""
    sent = time.monotonic()
    proc.send(signal.SIGHUP)
    wait_until(
        lambda: notify.count("RELOADING=1", since=sent) == 1 and notify.count("READY=1", since=sent) == 1, what="the reload", proc=proc
    )
    return len(json_lines(results))


@pytest.mark.slow
def test_a_corrupt_model_on_reload_keeps_the_old_one_running(running: tuple[CamappProcess, NotifySocket, Path, Path]) -> None:
    proc, notify, config, results = running
    model = Path(config.read_text().split("name: ")[1].split("\n")[0])
    model.write_bytes(model.read_bytes()[:100_000])  # a truncated download replaced the file
    at_reload = reload_and_wait(proc, notify, results)
    wait_until(lambda: len(json_lines(results)) > at_reload + 15, what="frames after the failed reload", proc=proc)
    failures = [ln for ln in proc.log().splitlines() if "reload failed" in ln]
    assert len(failures) == 1 and "model.tflite" in failures[0], proc.log()
    assert all("classes" in line for line in json_lines(results)[at_reload:]), "still the classifier"
    assert any("reload failed" in f for f in notify.fields() if f.startswith("STATUS="))


def test_a_reload_with_a_new_model_swaps_it_in_without_a_restart(
    running: tuple[CamappProcess, NotifySocket, Path, Path], models_dir: Path, videos_dir: Path
) -> None:
    proc, notify, config, results = running
    write_config(config, videos_dir / "bottle-detection.mp4", models_dir / DETECTOR, results)
    reload_and_wait(proc, notify, results)
    wait_until(lambda: "detections" in (json_lines(results) or [{}])[-1], what="detector results", proc=proc)
    lines = json_lines(results)
    first_detect = next(i for i, line in enumerate(lines) if "detections" in line)
    assert all("classes" in line for line in lines[:first_detect]) and all("detections" in line for line in lines[first_detect:])
    frames = [line["frame"] for line in lines]
    assert frames == sorted(frames), "the same run went on: frame indices never restart"
    assert "now running" in proc.log() and DETECTOR in proc.log()


@pytest.mark.slow
def test_a_broken_config_on_reload_names_its_line_and_changes_nothing(running: tuple[CamappProcess, NotifySocket, Path, Path]) -> None:
    proc, notify, config, results = running
    config.write_text(config.read_text() + "model:\n  threads: [\n")
    at_reload = reload_and_wait(proc, notify, results)
    wait_until(lambda: len(json_lines(results)) > at_reload + 15, what="frames after the failed reload", proc=proc)
    failures = [ln for ln in proc.log().splitlines() if "reload failed" in ln]
    assert len(failures) == 1 and "camapp.yaml line" in failures[0], proc.log()


def test_changes_that_need_a_restart_are_named(running: tuple[CamappProcess, NotifySocket, Path, Path]) -> None:
    proc, notify, config, results = running
    config.write_text(config.read_text().replace("realtime: true", "realtime: false"))
    reload_and_wait(proc, notify, results)
    assert any("changes to source take effect at the next restart" in ln for ln in proc.log().splitlines()), proc.log()
