"""Soak run: `camapp run` on a looping video for a long time, sampling memory and skipped frames.

The run is black-box on purpose: camapp is started exactly as the service starts it (a
subprocess, JSON lines output), and everything is measured from outside:

  * memory: VmRSS / VmHWM of the process from /proc/<pid>/status, open fds, threads;
  * frames: the JSON lines carry each processed frame's source index, which keeps counting across
    loops, so frames read = last index + 1 and skipped = read - processed, per sampling window.

    python benchmarks/soak.py --minutes 30 --markdown /tmp/soak.md  # then paste it into benchmarks/RESULTS.md

A leak shows as RSS that keeps climbing after the first minutes; a pipeline that falls behind
shows as a growing share of skipped frames.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMAPP_SHARED", REPO.parent / "shared"))
DEFAULT_VIDEO = SHARED / "videos" / "bottle-detection.mp4"
DEFAULT_MODEL = SHARED / "models" / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    hwm_mb: float
    threads: int
    fds: int
    frames_read: int
    processed: int
    skipped: int
    window_fps: float
    window_skipped_pct: float


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def kib_to_mb(text: str) -> float:
    return int(text.split()[0]) / 1024


class JsonlTail:
    """Follows the growing JSON lines file, keeping only counters (the file can be large)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.partial = b""
        self.processed = 0
        self.last_index = -1

    def update(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
            self.pos = f.tell()
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line.strip():
                self.processed += 1
                self.last_index = max(self.last_index, int(json.loads(line)["frame"]))


def sample(pid: int, tail: JsonlTail, started: float, prev: Sample | None) -> Sample:
    st = proc_status(pid)
    tail.update()
    now = time.monotonic() - started
    read = tail.last_index + 1
    skipped = max(0, read - tail.processed)
    d_read = read - (prev.frames_read if prev else 0)
    d_proc = tail.processed - (prev.processed if prev else 0)
    d_t = now - (prev.seconds if prev else 0.0)
    return Sample(
        seconds=round(now, 1),
        rss_mb=round(kib_to_mb(st["VmRSS"]), 1),
        hwm_mb=round(kib_to_mb(st["VmHWM"]), 1),
        threads=int(st["Threads"]),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        frames_read=read,
        processed=tail.processed,
        skipped=skipped,
        window_fps=round(d_proc / d_t, 2) if d_t > 0 else 0.0,
        window_skipped_pct=round(100 * (d_read - d_proc) / d_read, 2) if d_read > 0 else 0.0,
    )


def markdown(samples: list[Sample], args: argparse.Namespace, exit_code: int | None, stop_s: float | None) -> str:
    # The first sample, minute 1, every `table_every` seconds, and the last.
    targets = [samples[0].seconds, 60.0, *range(args.table_every, int(samples[-1].seconds) + 1, args.table_every), samples[-1].seconds]
    picked: list[Sample] = []
    for t in targets:
        s = min(samples, key=lambda x: abs(x.seconds - t))
        if s not in picked:
            picked.append(s)
    rows = [
        f"| {s.seconds / 60:5.1f} | {s.rss_mb:6.1f} | {s.hwm_mb:6.1f} | {s.threads} | {s.fds} | {s.frames_read} | "
        f"{s.processed} | {s.skipped} | {s.window_fps:.1f} | {s.window_skipped_pct:.2f} |"
        for s in sorted(picked, key=lambda x: x.seconds)
    ]
    first = next((s for s in samples if s.seconds >= 60), samples[0])
    last = samples[-1]
    growth = last.rss_mb - first.rss_mb
    return "\n".join(
        [
            f"Command: `camapp run --source {Path(args.video).name} --loop --realtime --mode live "
            f"--model {Path(args.model).name} -o results.jsonl` for {args.minutes:g} min, "
            f"sampled every {args.interval:g} s ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}).",
            "",
            "| minute | RSS MB | peak RSS MB | threads | open fds | frames read | processed | skipped (total) "
            "| FPS (window) | skipped % (window) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"RSS change from minute 1 to the end: {growth:+.1f} MB; skipped frames in total: {last.skipped} of {last.frames_read} "
            f"({100 * last.skipped / max(1, last.frames_read):.2f} %); SIGTERM to exit: "
            f"{f'{stop_s:.2f} s' if stop_s is not None else 'n/a'}, exit code {exit_code}.",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=10, help="seconds between samples")
    ap.add_argument("--table-every", type=int, default=300, dest="table_every", help="seconds between table rows")
    ap.add_argument("--video", default=str(DEFAULT_VIDEO))
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--camapp", default=str(Path(sys.executable).with_name("camapp")))
    ap.add_argument("--json", help="write every sample here")
    ap.add_argument("--markdown", help="write the summary table here")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more camapp run arguments")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="camapp-soak-"))
    jsonl = workdir / "results.jsonl"
    cmd = [
        args.camapp,
        "run",
        "--source",
        args.video,
        "--loop",
        "--realtime",
        "--mode",
        "live",
        "--model",
        args.model,
        "-o",
        str(jsonl),
        *args.extra,
    ]
    log = open(workdir / "camapp.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    started = time.monotonic()
    tail = JsonlTail(jsonl)
    samples: list[Sample] = []
    exit_code: int | None = None
    stop_s: float | None = None
    try:
        while time.monotonic() - started < args.minutes * 60:
            time.sleep(args.interval)
            if proc.poll() is not None:
                print(f"camapp exited early with {proc.returncode}; log in {workdir}", file=sys.stderr)
                break
            samples.append(sample(proc.pid, tail, started, samples[-1] if samples else None))
            print(json.dumps(asdict(samples[-1])), flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps([asdict(s) for s in samples], indent=1))
    finally:
        if proc.poll() is None:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                exit_code = proc.wait(timeout=10)
                stop_s = time.monotonic() - t0
            except subprocess.TimeoutExpired:
                proc.kill()
                exit_code = proc.wait()
        else:
            exit_code = proc.returncode
        log.close()
    if samples and args.markdown:
        Path(args.markdown).write_text(markdown(samples, args, exit_code, stop_s) + "\n")
    print(f"log and results in {workdir}", file=sys.stderr)
    return 0 if samples and exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
