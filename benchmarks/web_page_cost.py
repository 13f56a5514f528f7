"""What the page costs: camapp's CPU time per processed frame with no viewer, one viewer, and a comparison.

One `camapp run` on bottle-detection.mp4 at its own speed (--realtime --loop, 30 FPS, like a camera)
with the V1 classifier from the mirror and the web view on. The process's CPU time (user + system,
from /proc/PID/stat) is read around windows of `--seconds`, divided by the frames processed in the
window (/api/status). Conditions alternate, `--repeats` rounds:

  off       (a second process without --http, same settings) the baseline
  none      --http, nobody watches
  viewer    one browser's worth: /stream.mjpg read as it comes, /api/status every 1 s, /api/history every 2 s
  compare   the page's "Compare backbones" running (three backbones), nobody watching the stream

    CAMAPP_MODEL_MIRROR=../shared/models python benchmarks/web_page_cost.py --markdown /tmp/page_cost.md
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CAMAPP_SHARED", REPO.parent / "shared"))
VIDEO = SHARED / "videos" / "bottle-detection.mp4"
MODEL = "mobilenet_v1_0.75_192_quant"
TOKEN = "bench"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def get(url: str, method: str = "GET") -> dict:
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())


class Viewer:
    """What one open page does: the stream, the status poll, the history poll."""

    def __init__(self, base: str) -> None:
        self.base, self.stop = base, threading.Event()
        self.threads = [threading.Thread(target=self._stream, daemon=True), threading.Thread(target=self._poll, daemon=True)]

    def _stream(self) -> None:
        req = urllib.request.Request(self.base + "/stream.mjpg", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as res:
            while not self.stop.is_set() and res.read(65536):
                pass

    def _poll(self) -> None:
        n = 0
        while not self.stop.is_set():
            get(self.base + "/api/status")
            if n % 2 == 0:
                get(self.base + "/api/history")
            n += 1
            time.sleep(1.0)

    def __enter__(self) -> Viewer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()


def start(http: bool) -> tuple[subprocess.Popen[bytes], str | None]:
    port = free_port()
    cmd = [sys.executable, "-m", "camapp", "run", "--source", str(VIDEO), "--realtime", "--loop", "--model", MODEL,
           "--workers", "1", "--output", os.devnull]
    if http:
        cmd += ["--http", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "CAMAPP_HTTP_TOKEN": TOKEN})
    time.sleep(6)  # model loaded, warm
    return proc, f"http://127.0.0.1:{port}" if http else None


def window(proc: subprocess.Popen[bytes], base: str | None, seconds: float) -> tuple[float, float]:
    """(CPU ms per frame, frames per second) over one window; without --http, frames are counted at 30 FPS."""
    f0, c0, t0 = (get(base + "/api/status")["processed"] if base else 0), cpu_seconds(proc.pid), time.monotonic()
    time.sleep(seconds)
    f1, c1, t1 = (get(base + "/api/status")["processed"] if base else 0), cpu_seconds(proc.pid), time.monotonic()
    frames = (f1 - f0) if base else round(30 * (t1 - t0))  # realtime video: 30 FPS, every frame processed
    return 1000 * (c1 - c0) / max(1, frames), frames / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--markdown")
    a = ap.parse_args()
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in ("off", "none", "viewer", "compare")}
    off, _ = start(http=False)
    web, base = start(http=True)
    assert base is not None
    try:
        for _ in range(a.repeats):
            results["off"].append(window(off, None, a.seconds))
            results["none"].append(window(web, base, a.seconds))
            with Viewer(base):
                time.sleep(1)
                results["viewer"].append(window(web, base, a.seconds))
            get(base + "/api/compare", method="POST")
            results["compare"].append(window(web, base, a.seconds))
            while get(base + "/api/compare")["state"] == "running":
                time.sleep(0.5)
    finally:
        for p in (off, web):
            p.terminate()
            p.wait(15)
    lines = [f"| condition | CPU ms per frame (median of {a.repeats} x {a.seconds:g} s) | frames/s |", "|---|---|---|"]
    names = {"off": "no web view (`--http` off)", "none": "web view on, nobody watching", "viewer": "one viewer (stream + status + charts)",
             "compare": "comparison running, nobody watching"}
    for key, rows in results.items():
        ms = statistics.median(r[0] for r in rows)
        fps = statistics.median(r[1] for r in rows)
        lines.append(f"| {names[key]} | {ms:.2f} ({', '.join(f'{r[0]:.2f}' for r in rows)}) | {fps:.1f} |")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        Path(a.markdown).write_text(text + "\n")


if __name__ == "__main__":
    main()
