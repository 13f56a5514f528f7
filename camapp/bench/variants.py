"""The variants `camapp bench pipeline` times, and the stand-ins they need (sink, memory source, viewer)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import cv2
from numpy.typing import NDArray

from camapp.bench.measure import Measure, Stopwatch
from camapp.errors import InputError
from camapp.frames import Frame, Image, Size
from camapp.inference.model import Model
from camapp.outputs.base import Delivery, SinkBase
from camapp.pipeline import Pipeline, PipelineOptions, StageTimes
from camapp.sources import SourceOptions, open_source

MEMORY_FRAMES = 60  # frames kept decoded in RAM for camapp_memory (about 1 MB each at 768x432)


class BenchSink(SinkBase):
    """Takes every annotated frame like a display would; checks that results match their frame."""

    wants_pixels = True

    def __init__(self, encode: bool = False, stages: StageTimes | None = None) -> None:
        self.encode = encode
        self.stages = stages
        self.frames = 0
        self.mismatched = 0  # fresh results that named another frame: must stay 0
        self.touched = 0
        # (ms from capture until this sink got the annotated frame, that frame's own invoke ms)
        self.delays: list[tuple[float, float]] = []

    def write(self, item: Delivery) -> None:
        frame, annotated, results, fresh = item.frame, item.annotated, item.results, item.fresh
        self.frames += 1
        if fresh and results is not None:
            self.delays.append(((time.monotonic_ns() - frame.timestamp_ns) / 1e6, results.inference_ms))
            if results.frame_index != frame.index:
                self.mismatched += 1
        image = annotated if annotated is not None else frame.image
        if self.encode:
            t0 = time.perf_counter()
            cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if self.stages is not None:
                self.stages.add("encode", (time.perf_counter() - t0) * 1000)
        else:
            self.touched ^= int(image[0, 0, 0])  # read the pixels, as a display would



class MemorySource:
    """Frames already in memory, handed out as fast as they are asked for (a camera's ISP stand-in)."""

    is_live = False
    fps: float | None = None

    def __init__(self, images: list[Image], count: int) -> None:
        self.images = images
        self.count = count
        self.source_id = "memory"
        self._index = 0

    @property
    def size(self) -> Size | None:
        h, w = self.images[0].shape[:2]
        return Size(w, h)

    def open(self) -> None:
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= self.count:
            return None
        frame = Frame(self.images[self._index % len(self.images)], self._index, time.monotonic_ns(), self.source_id)
        self._index += 1
        return frame

    def close(self) -> None:
        pass


def decode_frames(path: str, count: int) -> list[Image]:
    capture = cv2.VideoCapture(path)
    images: list[Image] = []
    while len(images) < count:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)  # type: ignore[arg-type]  # cv2 stubs say Mat; it is a uint8 array
    capture.release()
    if not images:
        raise InputError(f"cannot decode video file {path}", "check that it is a video OpenCV can read (mp4, mkv, avi)")
    return images


def count_frames(path: str, limit: int) -> int:
    """How many of the first `limit` frames the file really has (its header may say otherwise)."""
    capture = cv2.VideoCapture(path)
    n = 0
    while n < limit and capture.grab():
        n += 1
    capture.release()
    return n


# -- the variants -------------------------------------------------------------------------
def invoke_only(model: Model, tensors: list[NDArray[Any]], frames: int) -> Measure:
    interpreter, index = model.interpreter, model.info.input.index
    watch = Stopwatch().start()
    for i in range(frames):
        interpreter.set_tensor(index, tensors[i % len(tensors)])
        interpreter.invoke()
    return watch.stop(frames)


def invoke_beside_decoding(model: Model, tensors: list[NDArray[Any]], source: Any, frames: int) -> dict[str, Any]:
    """(a) again, while another thread decodes the same video, one frame per invoke, and nothing else.

    The least any pipeline on a video file has to do beside invoking is decode, and on a machine
    whose cores invoke-only already keeps busy that decoding can only come out of the
    interpreter's time. This variant measures how much: its FPS over (a) is a ceiling for c/a
    that no arrangement of camapp's own stages (preprocess, overlay, hand-offs) can pass.
    The decoder keeps at most four frames ahead of the invokes, as the pipeline's file queue does,
    and each invoke waits for its frame to be decoded: where decoding is the slower of the two (a
    large video and a small model on a Pi), the ceiling is the decoder's own rate.
    """
    ahead, decoded = threading.Semaphore(4), threading.Semaphore(0)
    done = threading.Event()
    decode_cpu = [0.0, 0]  # seconds of the decoder thread's own CPU, frames decoded

    def decode() -> None:
        t0 = time.thread_time()
        while not done.is_set() and decode_cpu[1] < frames:
            if not ahead.acquire(timeout=0.1):
                continue
            if source.read() is None:
                break
            decode_cpu[1] += 1
            decoded.release()
        decode_cpu[0] = time.thread_time() - t0

    source.open()
    thread = threading.Thread(target=decode, name="bench-decoder", daemon=True)
    interpreter, index = model.interpreter, model.info.input.index
    invoked = 0
    try:
        thread.start()
        watch = Stopwatch().start()
        while invoked < frames and decoded.acquire(timeout=10):  # a video shorter than `frames` ends early
            interpreter.set_tensor(index, tensors[invoked % len(tensors)])
            interpreter.invoke()
            ahead.release()
            invoked += 1
        measure = watch.stop(invoked)
    finally:
        done.set()
        thread.join(timeout=10)
        source.close()
    return {"measure": measure, "decode_cpu_ms_per_frame": decode_cpu[0] * 1000 / max(1, decode_cpu[1]), "mismatched": 0}


def camapp_run(
    model: Model | tuple[Model, ...], source: Any, frames: int, encode: bool, extra_sinks: list[Any] | None = None
) -> dict[str, Any]:
    sink = BenchSink(encode)
    source.open()
    try:
        pipeline = Pipeline(source, model, [sink, *(extra_sinks or [])], PipelineOptions(mode="file", max_frames=frames))
        sink.stages = pipeline.stages
        watch = Stopwatch().start()
        summary = pipeline.run()
        measure = watch.stop(summary.processed)
    finally:
        source.close()
    return {
        "measure": measure,
        "stages": pipeline.stages.to_dict(),
        "latency": {"p50": summary.latency_p50_ms, "p95": summary.latency_p95_ms},
        "mismatched": sink.mismatched,
        "sink_frames": sink.frames,
    }


class MjpegClient:
    """One viewer reading the MJPEG stream as fast as it comes, in a thread of this process."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.sendall(f"GET /stream.mjpg HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())  # an address: passes the Host check
        self.received = 0
        self._thread = threading.Thread(target=self._read, name="bench-mjpeg-client", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = bytearray(1 << 16)
        try:
            while True:
                n = self.sock.recv_into(buf)
                if n == 0:
                    return
                self.received += n
        except OSError:
            return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=2)


def web_sink(model: Model, source: str) -> Any | None:
    """The real web output on a free local port, or None when it is not installed."""
    try:
        from camapp.outputs.web.sink import CameraInfo, WebOptions, WebSink
        from camapp.stats import PipelineStats
    except ImportError:
        return None
    return WebSink(WebOptions(host="127.0.0.1", port=0), CameraInfo(model.options.path, source), PipelineStats())


def camapp_web_run(model: Model, source_text: str, frames: int, encode: bool) -> dict[str, Any] | None:
    sink = web_sink(model, source_text)
    if sink is None:
        return None
    sink.start()  # as camapp.app.build_outputs does: the pipeline itself starts no output
    client = MjpegClient(sink.server.host, sink.server.port)
    try:
        deadline = time.monotonic() + 5
        while sink.broadcaster.viewers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        if sink.broadcaster.viewers < 1:
            raise RuntimeError("bench: the MJPEG viewer did not connect within 5 s")
        out = camapp_run(model, open_source(source_text, SourceOptions()), frames, encode, [sink])
        out["jpegs_encoded"] = sink.broadcaster.counters.encoded
        out["bytes_received"] = client.received
    finally:
        client.close()
        sink.close()
    return out
