"""Compare backbones on the live scene (POST /api/compare, GET /api/compare).

One run takes a dozen frames of the live view (about a second of it), then loads each candidate model
in turn with a one-thread interpreter and runs it over those same frames for a few seconds, in a thread
of its own (`camapp-compare`): the pipeline keeps its model and keeps running meanwhile (it shares the
CPU, so its FPS dips while a comparison runs). Every candidate sees the same frames, so their top
results can be compared: `agreement` is the share of frames on which a model's top label (detectors:
its set of labels) is one that at least one other candidate gave too. Timings are preprocess + invoke + decode per
frame on this board, with the pipeline running beside them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from camapp.errors import CamappError
from camapp.frames import Frame
from camapp.results import Results
from camapp.stats import LatencyHistogram

log = logging.getLogger(__name__)

FRAMES = 12  # live frames every candidate runs on
GRAB_SPACING_S = 0.08
SECONDS_PER_MODEL = 3.0


class RunnableModel(Protocol):
    def run(self, frame: Frame) -> Results: ...


@dataclass(frozen=True)
class Candidate:
    id: str
    backbone: str
    task: str
    size: int | None
    accuracy: str  # the publisher's figure, e.g. "top-1 70.8%"
    alpha: float | None = None
    resolution: int | None = None


@dataclass
class _Row:
    candidate: Candidate
    runs: int = 0
    seconds: float = 0.0
    hist: LatencyHistogram = field(default_factory=LatencyHistogram)
    tops: list[str] = field(default_factory=list)  # per frame: the top label (detectors: the sorted label set)
    error: str | None = None

    def to_dict(self, agreement: float | None) -> dict[str, Any]:
        c = self.candidate
        common = Counter(self.tops).most_common(3)
        return {
            "id": c.id, "backbone": c.backbone, "task": c.task, "alpha": c.alpha, "resolution": c.resolution,
            "size": c.size, "accuracy": c.accuracy, "runs": self.runs,
            "ms_p50": round(self.hist.percentile(50), 2) if self.runs else None,
            "ms_p95": round(self.hist.percentile(95), 2) if self.runs else None,
            "fps": round(self.runs / self.seconds, 1) if self.seconds > 0 else None,
            "top": [{"label": label or "(nothing)", "frames": n} for label, n in common],
            "agreement": agreement, "error": self.error,
        }


def top_of(results: Results) -> str:
    labels = results.labels
    if results.summary == "top_class":
        return labels[0] if labels else ""
    return ", ".join(sorted(set(labels)))


class Comparison:
    def __init__(
        self,
        candidates: Callable[[bool], list[Candidate]],
        grab: Callable[[], Frame | None],
        load: Callable[[str], RunnableModel],
        seconds_per_model: float = SECONDS_PER_MODEL,
        frames: int = FRAMES,
    ) -> None:
        self.candidates = candidates  # (every size?) -> one per backbone, or every available model of the task
        self.grab = grab  # the newest frame of the live view (None before the first)
        self.load = load  # a candidate id -> a loaded model with a one-thread interpreter
        self.seconds_per_model = seconds_per_model
        self.frames = frames
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self, ids: list[str] | None = None, every_size: bool = False) -> dict[str, Any]:
        """Starts a comparison; raises ValueError (409) while one runs, LookupError (400) for nothing to compare."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise ValueError("a comparison is running: wait for it")
            pool = self.candidates(every_size or bool(ids))
            if ids:
                known = {c.id: c for c in pool}
                missing = [i for i in ids if i not in known]
                if missing:
                    raise LookupError(f"not available here: {', '.join(missing)} (available: {', '.join(known) or 'none'})")
                pool = [known[i] for i in ids]
            if not pool:
                raise LookupError("no model to compare: none of this task's models is cached or in the mirror")
            self._state = {"state": "running", "started": time.time(), "models": [c.id for c in pool], "done": 0,
                           "total": len(pool), "current": None, "rows": [], "error": None}
            self._thread = threading.Thread(target=self._run, args=(pool,), name="camapp-compare", daemon=True)
            self._thread.start()
            return dict(self._state)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._state = {**self._state, **changes}

    def _frames(self) -> list[Frame]:
        taken: dict[int, Frame] = {}
        deadline = time.monotonic() + 5.0
        while len(taken) < self.frames and time.monotonic() < deadline and not self._stop.is_set():
            frame = self.grab()
            if frame is not None and frame.index not in taken:
                lores = None if frame.lores is None else frame.lores.copy()  # the source may reuse its buffers
                taken[frame.index] = replace(frame, image=frame.image.copy(), lores=lores)
            time.sleep(GRAB_SPACING_S)
        return list(taken.values())

    def _run(self, pool: list[Candidate]) -> None:
        started = time.monotonic()
        try:
            frames = self._frames()
            if not frames:
                raise RuntimeError("no live frames to compare on (is the source delivering?)")
            rows: list[_Row] = []
            for i, candidate in enumerate(pool):
                if self._stop.is_set():
                    return
                self._update(current=candidate.id)
                rows.append(self._measure(candidate, frames))
                self._update(done=i + 1, rows=_table(rows))
            self._update(state="done", current=None, rows=_table(rows), frames=len(frames), seconds=round(time.monotonic() - started, 1))
            log.info("compared %d models on %d live frames", len(rows), len(frames))
        except Exception as exc:  # one line on the page; the pipeline is not affected
            log.warning("the comparison failed: %s", exc)
            self._update(state="failed", current=None, error=str(exc))

    def _measure(self, candidate: Candidate, frames: list[Frame]) -> _Row:
        row = _Row(candidate)
        try:
            model = self.load(candidate.id)
            model.run(frames[0])  # warm-up, not timed
            end = time.monotonic() + self.seconds_per_model
            t_start = time.perf_counter()
            i = 0
            while (time.monotonic() < end or i < len(frames)) and not self._stop.is_set():
                frame = frames[i % len(frames)]
                t0 = time.perf_counter()
                results = model.run(frame)
                row.hist.add((time.perf_counter() - t0) * 1000)
                if i < len(frames):
                    row.tops.append(top_of(results))
                i += 1
            row.runs, row.seconds = i, time.perf_counter() - t_start
        except CamappError as exc:
            row.error = exc.message
        except Exception as exc:
            row.error = f"{type(exc).__name__}: {exc}"
        return row


def _table(rows: list[_Row]) -> list[dict[str, Any]]:
    """Each row with its agreement: the share of frames on which at least one other model gave the
    same top result (classifiers: the top class; detectors: the set of labels)."""
    usable = [r for r in rows if r.tops]
    n = min((len(r.tops) for r in usable), default=0)
    out = []
    for r in rows:
        others = [o for o in usable if o is not r]
        if n and r.tops and others:
            agree: float | None = round(100 * sum(any(o.tops[f] == r.tops[f] for o in others) for f in range(n)) / n, 1)
        else:
            agree = None
        out.append(r.to_dict(agree))
    return out
