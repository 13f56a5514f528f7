"""Teaching from the web page: record examples from the live view, build, and use the model now.

The teach panel is a sink next to the web view (it gets each Delivery like any output) whose
routes the web server serves under /teach and /api/teach/* (docs/web.md, docs/teach.md):

* Recording. POST /api/teach/record starts (or extends) a recording of one class; while it lasts,
  write() keeps a reference to a frame a few times a second, and the panel's own thread
  (camapp-teach) copies it into the examples folder through camapp.teach.dataset.add_examples.
  The page's hold-to-record button asks for one second at a time and again every half second
  while it is held, so a lost phone connection stops a recording within a second.
* Live probabilities. While the page polls GET /api/teach/live (at most live_fps times a second,
  and only while someone polls), the same thread embeds the newest frame with the backbone cut at
  its pre-logits and scores it against the class means of the examples taken so far ("mean" head:
  nothing to train, so the bars follow every new example at once). New examples are embedded a
  few per tick; the embeddings of a previous build are taken from its cache.
* Build runs camapp.teach.build in a thread of its own; Use now loads the built .tflite (through
  the `load` callable the composition root gives) and sends SwitchModel through the control
  channel, so the running pipeline takes the new model between two frames, without a restart.

Nothing here runs per frame while nobody records or watches: write() compares one float and
returns. Every change needs the token (the server refuses POSTs without one, as for /api/reset).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from camapp.config import Config
from camapp.control import ControlChannel, ModelChange, SwitchModel
from camapp.errors import CamappError
from camapp.frames import Frame
from camapp.inference.options import ModelOptions
from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.web.api import ApiError, Reply, json_body, json_reply, switch_model
from camapp.teach.dataset import BACKGROUND, IMAGE_SUFFIXES, add_examples, check_class_name, read_image

log = logging.getLogger(__name__)

THUMB_PX = 96  # thumbnails on the cards
THUMBS_LISTED = 12  # the latest examples of each class shown on its card
WATCH_S = 3.0  # live probabilities are computed while /api/teach/live was asked within this long
EMBED_PER_TICK = 8  # examples embedded per live tick, so a first tick with many examples stays short
USE_WAIT_S = 10.0  # how long Use now waits for the worker to take the new model
_FILE = re.compile(r"^\d{1,9}\.(jpg|jpeg|png|bmp|webp)$", re.IGNORECASE)





@dataclass(frozen=True)
class TeachOptions:
    root: Path  # the examples: one sub-folder per class
    output: Path  # the model Build writes
    rate: float = 4.0  # frames saved per second while recording
    max_seconds: float = 30.0  # most seconds one record request may ask for
    max_count: int = 200  # most frames one record request may ask for
    live_fps: float = 2.0  # most embeddings per second for the live bars (only while the page polls)
    head: str = "fit"  # the build's head: fit or mean
    floor: float | None | str = "auto"  # the build's "unknown" floor


@dataclass
class _Recording:
    label: str
    until: float  # time.monotonic() at which it stops
    left: int | None  # frames still to take (count mode), None: until `until`
    taken: int = 0  # frames saved so far
    unsaved: int = 0  # frames handed to the camapp-teach thread and not saved yet

    def active(self, now: float) -> bool:
        return now <= self.until and self.left != 0


@dataclass
class _Build:
    state: str = "idle"  # idle | running | done | failed
    done: int = 0
    total: int = 0
    error: str | None = None
    report: dict[str, Any] | None = None
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    seconds: float | None = None
    started: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "done": self.done, "total": self.total, "error": self.error, "report": self.report,
                "text": self.text, "labels": self.labels, "seconds": self.seconds}


@dataclass
class _Live:
    """The live bars' state, owned by the camapp-teach thread (read whole by HTTP threads)."""

    classes: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    frame: int | None = None
    at: float = 0.0
    note: str = "starting"


def load_teach_page() -> bytes:
    return resources.files("camapp.outputs.web").joinpath("teach.html").read_bytes()


class TeachPanel(SinkBase):
    def __init__(
        self,
        options: TeachOptions,
        backbone: Callable[[], ModelOptions],
        controls: ControlChannel | None,
        load: Callable[[Path], SwitchModel] | None,
        shown: Callable[[], str] | None = None,
    ) -> None:
        self.options = options
        self.backbone = backbone  # resolved at first use: a model download never delays the start
        self.controls = controls
        self.load = load
        self.shown = shown  # the model the web view names now: Use now answers once it names the taught one
        self.page = load_teach_page()
        self._lock = threading.Condition()
        self._recording: _Recording | None = None
        self._next_record = 0.0
        self._watched_until = 0.0
        self._next_live = 0.0
        self._due = float("inf")  # write() does nothing before this time.monotonic()
        self._saves: deque[tuple[Frame, str]] = deque()  # frames to save as examples of a class, oldest first
        self._probe_frame: Frame | None = None  # the newest frame for the live bars (a one-item slot)
        self._build = _Build()
        self._live = _Live()
        self._running_model: str | None = None
        self._used: str | None = None  # the output file last switched to
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="camapp-teach", daemon=True)
        self._builder: threading.Thread | None = None
        self._thumbs: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()

    # -- the sink's lifecycle --------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"teach panel {self.options.root}"

    def start(self) -> None:
        root = self.options.root
        if not root.exists():
            (root / BACKGROUND).mkdir(parents=True)  # the "none of these" class, offered from the start
            log.info("teach: examples go to %s", root)

    def _wake(self) -> None:
        """Under the lock: the camapp-teach thread starts the first time someone records or watches."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def write(self, item: Delivery) -> None:
        now = time.monotonic()
        if now < self._due:  # nobody records or watches: one comparison per frame
            return
        with self._lock:
            rec = self._recording
            save = None
            if rec is not None and now >= self._next_record and rec.active(now):
                save = rec.label
                rec.unsaved += 1
                if rec.left is not None:
                    rec.left -= 1
                self._next_record = now + 1.0 / self.options.rate
            probe = now < self._watched_until and now >= self._next_live
            if probe:
                self._next_live = now + 1.0 / self.options.live_fps
            if save is not None:
                self._saves.append((item.frame, save))  # a few a second: the thread saves them before any probe
            if probe:
                self._probe_frame = item.frame
            if save is not None or probe:
                self._lock.notify_all()
            self._update_due(now)

    def _update_due(self, now: float) -> None:
        """Under the lock: when write() next has something to do."""
        due = float("inf")
        rec = self._recording
        if rec is not None and rec.active(now):
            due = min(due, self._next_record)
        if now < self._watched_until:
            due = min(due, self._next_live)
        self._due = due

    def model_changed(self, change: ModelChange) -> None:
        self._running_model = change.name

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- the camapp-teach thread -----------------------------------------------------------
    def _work(self) -> None:
        embedder = None
        known: dict[str, tuple[str, NDArray[np.float32]]] = {}  # cache key -> (class, embedding)
        while not self._stop.is_set():
            with self._lock:
                self._lock.wait_for(lambda: self._saves or self._probe_frame is not None or self._stop.is_set(), timeout=1.0)
                if self._saves:
                    frame, label, probe = *self._saves.popleft(), False
                elif self._probe_frame is not None:
                    frame, label, probe = self._probe_frame, None, True
                    self._probe_frame = None
                else:
                    continue
            image = frame.image.copy()  # the source may reuse its buffer
            if label is not None:
                try:
                    add_examples(self.options.root, label, [image])
                    saved = True
                except (OSError, CamappError) as exc:  # a full disk, a class deleted meanwhile
                    log.error("teach: cannot save an example of '%s': %s", label, exc)
                    saved = False
                with self._lock:
                    rec = self._recording
                    if rec is not None and rec.label == label:
                        rec.unsaved = max(0, rec.unsaved - 1)
                        rec.taken += saved
                        if not saved:
                            self._recording = None
            if probe:
                try:
                    if embedder is None:
                        embedder = self._embedder()
                    self._probe(embedder, known, image, frame.index)
                except Exception as exc:  # the bars say why; recording and the pipeline go on
                    log.warning("teach: live probabilities failed: %s", exc)
                    self._live = replace(self._live, note=f"live probabilities unavailable: {exc}", at=time.monotonic())

    def _embedder(self) -> Any:
        from camapp.teach.embedder import Embedder

        self._live = replace(self._live, note="loading the backbone")
        return Embedder(replace(self.backbone(), threads=1))  # one thread: the pipeline keeps the others

    def _probe(self, embedder: Any, known: dict[str, tuple[str, NDArray[np.float32]]], image: Any, index: int) -> None:
        from camapp.teach.build import EmbeddingCache
        from camapp.teach.head import train_head

        root = self.options.root
        files = {EmbeddingCache.key(root, path): (label, path) for label, path in self._example_files()}
        for key in set(known) - set(files):
            del known[key]
        missing = [k for k in files if k not in known]
        if missing and not known:  # a first tick: what a previous build embedded already
            cached = EmbeddingCache(root, embedder.content).rows
            for key in missing:
                if key in cached and cached[key].shape == (embedder.width,):
                    known[key] = (files[key][0], cached[key])
            missing = [k for k in missing if k not in known]
        for key in missing[:EMBED_PER_TICK]:
            example = read_image(files[key][1])
            if example is not None:
                known[key] = (files[key][0], embedder.embed(example))
        classes = tuple(sorted({label for label, _ in known.values()}, key=str.lower))
        pending = len(missing) - min(len(missing), EMBED_PER_TICK)
        if len(classes) < 2:
            self._live = _Live(list(classes), [], index, time.monotonic(), "record examples of two classes to see live probabilities")
            return
        index_of = {c: i for i, c in enumerate(classes)}
        x = np.stack([v for _, v in known.values()]).astype(np.float32)
        y = np.array([index_of[c] for c, _ in known.values()], np.int64)
        head = train_head(x, y, classes, "mean")
        p = head.probabilities(embedder.embed(image)[None, :])[0]
        note = f"embedding examples: {pending} to go" if pending else ""
        self._live = _Live(list(classes), [round(float(v), 4) for v in p], index, time.monotonic(), note)

    # -- the examples folder ---------------------------------------------------------------
    def _class_names(self) -> list[str]:
        root = self.options.root
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name.lower())
        except OSError:
            return []
        return [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]

    def _files(self, label: str) -> list[str]:
        from camapp.teach.dataset import _natural

        folder = self.options.root / label
        try:
            names = [f.name for f in os.scandir(folder) if f.is_file() and not f.name.startswith(".")
                     and f.name.lower().endswith(IMAGE_SUFFIXES)]
        except OSError:
            return []
        return sorted(names, key=_natural)

    def _example_files(self) -> list[tuple[str, Path]]:
        return [(label, self.options.root / label / name) for label in self._class_names() for name in self._files(label)]

    def _existing(self, label: Any) -> str:
        name = self._name(label)
        if not (self.options.root / name).is_dir():
            raise ApiError(f"no class '{name}': add it first", HTTPStatus.NOT_FOUND)
        return name

    @staticmethod
    def _name(label: Any) -> str:
        if not isinstance(label, str):
            raise ApiError("give the class as a string: {\"class\": \"full\"}")
        try:
            return check_class_name(label)
        except CamappError as exc:
            raise ApiError(f"{exc.message}: {exc.hint}" if exc.hint else exc.message) from exc

    # -- the routes ------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        """Answer one request under /teach or /api/teach (the server checked the token)."""
        try:
            if path == "/teach":
                return HTTPStatus.OK, "text/html; charset=utf-8", self.page
            if path == "/api/teach":
                return json_reply(self.state())
            if path == "/api/teach/live":
                return json_reply(self.live())
            if path == "/api/teach/thumb":
                return HTTPStatus.OK, "image/jpeg", self.thumbnail(_one(query, "class"), _one(query, "file"))
            request = json_body(body, '{"class": "full", "seconds": 1}')
            if path == "/api/teach/record":
                return json_reply(self.record(request))
            if path == "/api/teach/class":
                return json_reply(self.change_class(request))
            if path == "/api/teach/build":
                return json_reply(self.start_build(), HTTPStatus.ACCEPTED)
            if path == "/api/teach/use":
                return json_reply(self.use())
        except ApiError as exc:
            return json_reply({"error": str(exc)}, exc.status)
        except (OSError, CamappError) as exc:  # a full disk, a folder that went away, a model that does not load
            log.warning("teach: %s %s failed: %s", method, path, exc)
            return json_reply({"error": str(exc)}, HTTPStatus.INTERNAL_SERVER_ERROR)
        return json_reply({"error": f"no route {path}"}, HTTPStatus.NOT_FOUND)

    def state(self) -> dict[str, Any]:
        classes = []
        for label in self._class_names():
            files = self._files(label)
            classes.append({"name": label, "count": len(files),
                            "thumbs": [f"api/teach/thumb?class={_q(label)}&file={_q(f)}" for f in files[-THUMBS_LISTED:]]})
        with self._lock:
            rec = self._recording
            recording = None
            if rec is not None and (rec.active(time.monotonic()) or rec.unsaved):  # until its last frame is saved
                recording = {"class": rec.label, "taken": rec.taken, "left": rec.left}
            build = self._build.to_dict()
        o = self.options
        return {
            "dir": str(o.root), "output": str(o.output), "built": o.output.is_file(), "classes": classes,
            "recording": recording, "build": build, "running_model": self._running_model, "used": self._used,
            "can_use": self.load is not None and self.controls is not None, "rate": o.rate,
        }

    def live(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            self._watched_until = now + WATCH_S  # write() offers frames for the bars until then
            self._update_due(now)
            self._wake()
        live = self._live
        fresh = now - live.at < WATCH_S
        return {"classes": live.classes, "probabilities": live.probabilities if fresh else [], "frame": live.frame,
                "note": live.note if fresh or live.note != "starting" else "waiting for a frame"}

    def record(self, request: dict[str, Any]) -> dict[str, Any]:
        label = self._name(request.get("class"))
        seconds: Any = request.get("seconds")
        count: Any = request.get("count")
        now = time.monotonic()
        if seconds is None and count is None:
            raise ApiError("give \"seconds\" (0 stops) or \"count\": {\"class\": \"full\", \"seconds\": 1}")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= self.options.max_count):
            raise ApiError(f"\"count\" must be a whole number from 1 to {self.options.max_count}")
        if seconds is not None and (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                                    or not 0 <= seconds <= self.options.max_seconds):
            raise ApiError(f"\"seconds\" must be a number from 0 to {self.options.max_seconds:g}")
        secs = 0.0 if seconds is None else float(seconds)
        with self._lock:
            rec = self._recording
            if seconds is not None and secs == 0:  # the button was let go
                if rec is not None and rec.label == label:
                    self._recording = None
                    self._update_due(now)
                return {"recording": None, "taken": rec.taken if rec is not None and rec.label == label else 0}
            if not (self.options.root / label).is_dir():
                raise ApiError(f"no class '{label}': add it first", HTTPStatus.NOT_FOUND)
            if count is not None:
                until = now + count / self.options.rate + 10.0  # a stalled source must not record forever
                rec = _Recording(label, until, count)
            elif rec is not None and rec.label == label and rec.left is None:
                rec.until = max(rec.until, now + secs)  # held: extended
            else:
                rec = _Recording(label, now + secs, None)
            if self._recording is not rec:
                self._next_record = now
            self._recording = rec
            self._update_due(now)
            self._wake()
            return {"recording": {"class": rec.label, "taken": rec.taken, "left": rec.left}}

    def change_class(self, request: dict[str, Any]) -> dict[str, Any]:
        action = request.get("action")
        root = self.options.root
        if action == "add":
            name = self._name(request.get("class"))
            folder = root / name
            if folder.is_dir():
                raise ApiError(f"class '{name}' exists already", HTTPStatus.CONFLICT)
            if any(n.lower() == name.lower() for n in self._class_names()):
                raise ApiError(f"a class named like '{name}' exists already (names differ only in case)", HTTPStatus.CONFLICT)
            folder.mkdir(parents=True)
            return {"added": name}
        if action not in ("delete", "rename"):
            raise ApiError("\"action\" must be add, rename or delete")
        name = self._existing(request.get("class"))
        with self._lock:
            if self._recording is not None and self._recording.label == name:
                raise ApiError(f"class '{name}' is being recorded: stop first", HTTPStatus.CONFLICT)
        if self._build.state == "running":
            raise ApiError("a build is running: wait for it", HTTPStatus.CONFLICT)
        if action == "delete":
            shutil.rmtree(root / name)
            self._thumbs.clear()
            return {"deleted": name}
        to = self._name(request.get("to"))
        if (root / to).exists() or any(n.lower() == to.lower() and n != name for n in self._class_names()):
            raise ApiError(f"class '{to}' exists already", HTTPStatus.CONFLICT)
        os.rename(root / name, root / to)
        self._thumbs.clear()
        return {"renamed": name, "to": to}

    def thumbnail(self, label: str, name: str) -> bytes:
        label = self._existing(label)
        if not _FILE.match(name) or name not in self._files(label):
            raise ApiError(f"no example '{name}' in class '{label}'", HTTPStatus.NOT_FOUND)
        path = self.options.root / label / name
        key = (label, name, path.stat().st_mtime_ns)
        if key in self._thumbs:
            self._thumbs.move_to_end(key)
            return self._thumbs[key]
        image = read_image(path)
        if image is None:
            raise ApiError(f"example '{label}/{name}' is not a readable image", HTTPStatus.NOT_FOUND)
        h, w = image.shape[:2]
        scale = THUMB_PX / max(h, w)
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes()
        self._thumbs[key] = jpeg
        while len(self._thumbs) > 512:  # ~2 MB at most
            self._thumbs.popitem(last=False)
        return jpeg

    # -- build and use ---------------------------------------------------------------------
    def start_build(self) -> dict[str, Any]:
        counts = {label: len(self._files(label)) for label in self._class_names()}
        ready = [label for label, n in counts.items() if n > 0]
        if len(ready) < 2:
            shown = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no classes"
            raise ApiError(f"a build needs examples of at least two classes ({shown}): record some first")
        with self._lock:
            if self._build.state == "running":
                raise ApiError("a build is running already", HTTPStatus.CONFLICT)
            self._build = _Build("running", 0, sum(counts.values()), started=time.monotonic())
        self._builder = threading.Thread(target=self._run_build, name="camapp-teach-build", daemon=True)
        self._builder.start()
        return {"build": self._build.to_dict()}

    def _run_build(self) -> None:
        from camapp.teach.build import BuildOptions, build
        from camapp.teach.evaluate import format_report

        b = self._build
        try:
            cores = os.cpu_count() or 1
            backbone = replace(self.backbone(), threads=max(1, cores // 2))  # the pipeline keeps running on the rest

            def progress(done: int, total: int) -> None:
                b.done, b.total = done, total

            o = self.options
            result = build(BuildOptions(o.root, o.output, backbone, o.head, o.floor), progress)  # type: ignore[arg-type]
            b.report = result.report.to_dict()
            b.text = format_report(result.report)
            b.labels = list(result.head.labels)
            b.done = b.total
            b.state = "done"
            log.info("teach: built %s (%s) from the web page", o.output, ", ".join(b.labels))
        except CamappError as exc:
            b.error, b.state = exc.message + (f": {exc.hint}" if exc.hint else ""), "failed"
        except Exception as exc:
            log.exception("teach: the build failed")
            b.error, b.state = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            b.seconds = round(time.monotonic() - b.started, 2)

    def use(self) -> dict[str, Any]:
        output = self.options.output
        if self.load is None or self.controls is None:
            raise ApiError("this run cannot switch models from the page", HTTPStatus.CONFLICT)
        if self._build.state == "running":
            raise ApiError("a build is running: wait for it", HTTPStatus.CONFLICT)
        if not output.is_file():
            raise ApiError(f"nothing built yet ({output}): build first", HTTPStatus.CONFLICT)
        try:
            command = self.load(output)
        except CamappError as exc:
            raise ApiError(f"cannot load {output}: {exc.message}", HTTPStatus.INTERNAL_SERVER_ERROR) from exc
        if not switch_model(self.controls, command, USE_WAIT_S, self.shown):
            raise ApiError("the pipeline did not take the new model in time (is it running?)", HTTPStatus.SERVICE_UNAVAILABLE)
        self._used = str(output)
        log.info("teach: now running %s (Use now on the web page)", output)
        return {"model": command.change.name, "path": str(output), "task": command.change.task}




def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise ApiError(f"give ?{name}=")
    return values[0]




def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def default_dir() -> Path:
    """teach/ in the service's state folder (systemd's StateDirectory=), else ~/.local/share/camapp/teach."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "teach"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(data) / "camapp" / "teach"


def teach_options(cfg: Config) -> TeachOptions:
    t = cfg.teach
    root = Path(os.path.expanduser(t.dir)) if t.dir else default_dir()
    output = Path(os.path.expanduser(t.output)) if t.output else root.with_name(root.name + ".tflite")
    floor: float | None | str = None if t.unknown_below == "off" else t.unknown_below
    return TeachOptions(root, output, rate=t.rate, live_fps=t.live_fps, head=t.head, floor=floor)
