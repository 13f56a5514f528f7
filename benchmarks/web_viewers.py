"""Does watching slow the camera down? Inference FPS with 0 and with 20 MJPEG viewers, same run.

The pipeline runs in file mode (every frame, as fast as the CPU allows), so any CPU the web view
takes from inference shows up as lost FPS; a real camera at 30 FPS would hide it. Conditions
alternate within one process (same model, same video, same interpreter, warm caches):

  none      the web view is on (--http), nobody watches
  viewers   N clients read /stream.mjpg as fast as they can, from a separate process

Each condition runs `--repeats` times over the first `--frames` frames; the medians are compared.

    python benchmarks/web_viewers.py --markdown /tmp/web_viewers.md  # then paste it into benchmarks/RESULTS.md
    python benchmarks/web_viewers.py --stream-fps 0     # encode every frame (no rate cap)
"""

from __future__ import annotations

import argparse
import os
import platform
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMAPP_SHARED", REPO.parent / "shared"))
VIDEO = SHARED / "videos" / "bottle-detection.mp4"
MODEL = SHARED / "models" / "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29_detect.tflite"
LABELS = SHARED / "models" / "coco_labels.txt"


# -- the viewers: one process, N sockets, read and thrown away like a browser tab would show them ---


def viewers_main(port: int, count: int) -> None:
    sel = selectors.DefaultSelector()
    parts = [0] * count
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.is_set():
        for key, _ in sel.select(0.2):
            data = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                continue
            parts[key.data] += data.count(b"--camappframe\r\n")
    print(" ".join(map(str, parts)), flush=True)


# -- the pipeline under test ------------------------------------------------------------------------


@dataclass
class Run:
    condition: str
    fps: float
    cpu_ms_per_frame: float  # this process's CPU time (all threads) per frame: robust to other load
    encoded: int
    received: list[int]


def run_once(model: object, frames: int, stream_fps: float, viewers: int) -> Run:
    from camapp.outputs.web import CameraInfo, WebOptions, WebSink
    from camapp.pipeline import Pipeline, PipelineOptions
    from camapp.sources import SourceOptions, open_source
    from camapp.stats import PipelineStats

    stats = PipelineStats()
    web = WebSink(WebOptions(port=0, stream_fps=stream_fps), CameraInfo("ssd", str(VIDEO)), stats)
    web.start()
    proc = None
    try:
        if viewers:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--viewers-only", str(web.server.port), str(viewers)], stdout=subprocess.PIPE, text=True
            )
            deadline = time.monotonic() + 30
            while web.broadcaster.viewers < viewers:
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {web.broadcaster.viewers} of {viewers} viewers connected")
                time.sleep(0.05)
        source = open_source(str(VIDEO), SourceOptions())
        source.open()
        pipeline = Pipeline(source, model, [web], PipelineOptions(mode="file", max_frames=frames), stats=stats)  # type: ignore[arg-type]
        t0, cpu0 = time.perf_counter(), time.process_time()
        pipeline.run()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        source.close()
        received: list[int] = []
        if proc is not None:
            time.sleep(0.3)  # the last frames on their way
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=30)
            received = [int(x) for x in out.split()]
        n = stats.processed
        return Run("viewers" if viewers else "none", n / seconds, cpu * 1000 / n, web.broadcaster.counters.encoded, received)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        web.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stream-fps", type=float, default=15.0, help="http.stream_fps (0: encode every frame)")
    ap.add_argument("--markdown", type=Path, help="append the result table to this file")
    ap.add_argument("--viewers-only", nargs=2, type=int, metavar=("PORT", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.viewers_only:
        viewers_main(*args.viewers_only)
        return 0

    from camapp.inference.model import Model, ModelOptions

    model = Model(ModelOptions(path=str(MODEL), labels=str(LABELS), threads=args.threads))
    run_once(model, 100, args.stream_fps, 0)  # warm-up: interpreter, caches, page cache
    runs: list[Run] = []
    for i in range(args.repeats):
        for viewers in (0, args.viewers) if i % 2 == 0 else (args.viewers, 0):  # alternate the order against drift
            runs.append(run_once(model, args.frames, args.stream_fps, viewers))
            r = runs[-1]
            print(
                f"{r.condition:8s} {r.fps:7.2f} FPS  {r.cpu_ms_per_frame:6.2f} CPU ms/frame  encoded {r.encoded:4d}  "
                f"per viewer {min(r.received, default=0)}-{max(r.received, default=0)}",
                flush=True,
            )
    table = render(args, runs)
    print(table)
    if args.markdown:
        with open(args.markdown, "a", encoding="utf-8") as f:
            f.write(table + "\n")
    none = statistics.median(r.fps for r in runs if r.condition == "none")
    with_viewers = statistics.median(r.fps for r in runs if r.condition == "viewers")
    return 0 if abs(with_viewers - none) / none <= 0.05 else 1


def render(args: argparse.Namespace, runs: list[Run]) -> str:
    def med(condition: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs if r.condition == condition)

    watched = [r for r in runs if r.condition == "viewers"]
    none, with_viewers = med("none", "fps"), med("viewers", "fps")
    cpu_none, cpu_viewers = med("none", "cpu_ms_per_frame"), med("viewers", "cpu_ms_per_frame")
    cpu = platform.processor() or platform.machine()
    rate = f"{args.stream_fps:g} FPS cap" if args.stream_fps else "every frame"
    received = [n for r in watched for n in r.received]
    lines = [
        f"| {args.frames} frames, file mode, {args.threads} threads, stream {rate} | median inference FPS | median CPU ms / frame | runs |",
        "|---|---|---|---|",
        f"| web view on, nobody watching | {none:.1f} | {cpu_none:.2f} | {args.repeats} |",
        f"| {args.viewers} viewers on /stream.mjpg | {with_viewers:.1f} | {cpu_viewers:.2f} | {args.repeats} |",
        f"| change | {(with_viewers - none) / none * 100:+.1f} % | {(cpu_viewers - cpu_none) / cpu_none * 100:+.1f} % | |",
        "",
        f"JPEGs encoded per watched run: {', '.join(str(r.encoded) for r in watched)}; frames received per viewer: "
        f"{min(received, default=0)}-{max(received, default=0)}. "
        f"Machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
