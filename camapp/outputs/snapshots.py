"""Snapshots when chosen labels appear, optional clips around those events, and retention.

The output thread only decides (is this event, found by the analytics stage, one we keep?) and keeps references: the overlay,
JPEG and video encoding and every file operation run on a BackgroundWorker, so a slow SD card
never holds up inference. Clips come from a ring of the last `clip_before` seconds of frames
(sampled at `clip_fps`, references only: the pipeline never changes a frame after handing it on),
continued for `clip_after` seconds after the event. A second event during a clip is part of it.

Clips are H.264 in fragmented MP4 (camapp.outputs.video_file), so the page can play them. Files
are written under a .part name and renamed when complete. Retention runs after every file: the
oldest files go first until the folder is within the count, age and size limits. Only camapp's own
files (snapshot_*.jpg, clip_*.mp4) are ever deleted.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import cv2

from camapp.analytics.events import Event
from camapp.config import SnapshotsConfig
from camapp.errors import OutputError
from camapp.frames import Frame, Image
from camapp.metrics import Metric, counter
from camapp.outputs.base import Delivery, SinkBase
from camapp.outputs.naming import remove_quietly
from camapp.outputs.threaded import BackgroundWorker
from camapp.outputs.video_file import open_video_file
from camapp.overlay import OverlayStyle, render
from camapp.results import Results

log = logging.getLogger(__name__)

SNAPSHOT_PREFIX, CLIP_PREFIX = "snapshot_", "clip_"
PART = ".part"  # a file being written; renamed to its real name only when complete


@dataclass(frozen=True)
class RetentionPolicy:
    max_files: int | None = None
    max_age_s: float | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    mtime: float


def plan_retention(files: list[StoredFile], policy: RetentionPolicy, now: float) -> list[str]:
    """The names to delete, oldest first. The newest file is always kept, whatever its size."""
    keep_total, kept, doomed = 0, 0, []
    for f in sorted(files, key=lambda f: (f.mtime, f.name), reverse=True):
        too_old = policy.max_age_s is not None and now - f.mtime > policy.max_age_s
        too_many = policy.max_files is not None and kept >= policy.max_files
        too_big = policy.max_bytes is not None and keep_total + f.size > policy.max_bytes
        if kept and (too_old or too_many or too_big) or (not kept and too_old):
            doomed.append(f.name)
        else:
            kept += 1
            keep_total += f.size
    return list(reversed(doomed))


@dataclass
class Shot:
    frame: Frame
    annotated: Image | None
    results: Results | None


@dataclass
class SnapshotJob:
    shot: Shot
    event: Event


@dataclass
class ClipJob:
    shots: list[Shot]
    event: Event


@dataclass
class _ActiveClip:
    event: Event
    end_ns: int
    shots: list[Shot] = field(default_factory=list)


class SnapshotSink(SinkBase):
    def __init__(self, cfg: SnapshotsConfig, style: OverlayStyle | None = None) -> None:
        assert cfg.dir is not None
        self.cfg = cfg
        self.dir = cfg.dir
        self.style = style or OverlayStyle()
        self.policy = RetentionPolicy(
            cfg.max_files, cfg.max_age_hours * 3600 if cfg.max_age_hours else None, int(cfg.max_mb * 1e6) if cfg.max_mb else None
        )
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the snapshot folder '{self.dir}': {exc.strerror}", "check snapshots.dir") from exc
        if not os.access(self.dir, os.W_OK):
            raise OutputError(f"the snapshot folder '{self.dir}' is not writable", "check its permissions or choose another snapshots.dir")
        self.clips = cfg.clip_before > 0 or cfg.clip_after > 0
        self._ring: deque[tuple[int, Shot]] = deque()
        self._next_sample_ns = 0
        self._clip: _ActiveClip | None = None
        self.saved: list[str] = []  # names written, newest last (bounded: trimmed with retention)
        self.written = 0
        self.deleted = 0
        self.worker: BackgroundWorker[SnapshotJob | ClipJob | None] = BackgroundWorker("snapshots", self._handle, 16)

    def start(self) -> None:
        self.worker.start()
        self.worker.submit(None)  # apply retention to what earlier runs left

    def wanted(self, event: Event) -> bool:
        return event.type in ("appeared", "class_changed") and (not self.cfg.labels or event.label in self.cfg.labels)

    @property
    def name(self) -> str:
        return f"snapshots {self.dir}"

    def write(self, item: Delivery) -> None:
        frame = item.frame
        shot = Shot(frame, item.annotated, item.results)
        if self.clips:
            self._sample(shot)
        triggers = [e for e in item.events if self.wanted(e)]
        if not triggers:
            return
        self.worker.submit(SnapshotJob(shot, triggers[0]))
        if self.clips and self._clip is None:
            t = frame.timestamp_ns
            self._clip = _ActiveClip(triggers[0], t + int(self.cfg.clip_after * 1e9), [s for _, s in self._ring])
            if self._clip.end_ns <= t:
                self._finish_clip()

    def _sample(self, shot: Shot) -> None:
        t = shot.frame.timestamp_ns
        if t < self._next_sample_ns:
            return
        self._next_sample_ns = t + int(1e9 / self.cfg.clip_fps)
        self._ring.append((t, shot))
        while self._ring and t - self._ring[0][0] > self.cfg.clip_before * 1e9:
            self._ring.popleft()
        if self._clip is not None:
            self._clip.shots.append(shot)
            if t >= self._clip.end_ns:
                self._finish_clip()

    def _finish_clip(self) -> None:
        assert self._clip is not None
        if self._clip.shots:
            self.worker.submit(ClipJob(self._clip.shots, self._clip.event))
        self._clip = None

    # -- the worker thread ----------------------------------------------------------------
    def _image(self, shot: Shot) -> Image:
        if shot.annotated is not None:
            return shot.annotated
        return render(shot.frame.image, shot.results, self.style)

    def _name(self, prefix: str, event: Event, ext: str) -> str:
        stamp = datetime.fromtimestamp(event.time).strftime("%Y%m%d-%H%M%S-%f")[:-3]
        label = re.sub(r"[^A-Za-z0-9_-]+", "_", event.label).strip("_") or "label"
        name, n = f"{prefix}{stamp}_{label}{ext}", 1
        while os.path.exists(os.path.join(self.dir, name)):  # two events in one millisecond
            n += 1
            name = f"{prefix}{stamp}_{label}-{n}{ext}"
        return name

    def _handle(self, job: SnapshotJob | ClipJob | None) -> None:
        if job is None:
            self._remove_stale_parts()
        elif isinstance(job, SnapshotJob):
            self._save_jpeg(job)
        elif isinstance(job, ClipJob):
            self._save_clip(job)
        self._apply_retention()

    def _save_jpeg(self, job: SnapshotJob) -> None:
        name = self._name(SNAPSHOT_PREFIX, job.event, ".jpg")
        ok, buf = cv2.imencode(".jpg", self._image(job.shot), [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality])
        if not ok:
            raise OutputError(f"cannot encode snapshot {name}")
        part = os.path.join(self.dir, name + PART)
        try:
            with open(part, "wb") as f:
                f.write(buf.tobytes())
        except OSError as exc:
            remove_quietly(part)  # a full disk leaves no .part behind
            raise OutputError(f"cannot save snapshot {name}: {exc.strerror or exc}", "free some space") from exc
        os.replace(part, os.path.join(self.dir, name))  # a reader never sees half a JPEG
        self._saved(name)

    def _save_clip(self, job: ClipJob) -> None:
        name = self._name(CLIP_PREFIX, job.event, ".mp4")
        part = os.path.join(self.dir, name[:-4] + PART + ".mp4")  # the container is chosen by the extension
        first = self._image(job.shots[0])
        h, w = first.shape[:2]
        try:
            video = open_video_file(part, self.cfg.clip_fps, w, h)
            try:
                for shot in job.shots:
                    video.write(self._image(shot))
            finally:
                video.close()
        except BaseException:
            remove_quietly(part)  # only a finished clip gets its real name
            raise
        os.replace(part, os.path.join(self.dir, name))
        self._saved(name)

    def _saved(self, name: str) -> None:
        self.saved.append(name)
        self.written += 1
        log.info("saved %s", os.path.join(self.dir, name))

    def _remove_stale_parts(self) -> None:
        """At start: files an earlier run was writing when it was killed (ours only)."""
        with os.scandir(self.dir) as it:
            for entry in it:
                if entry.name.startswith((SNAPSHOT_PREFIX, CLIP_PREFIX)) and PART in entry.name and entry.is_file():
                    remove_quietly(entry.path)
                    log.info("removed %s, left unfinished by an earlier run", entry.path)

    def _apply_retention(self) -> None:
        files = []
        with os.scandir(self.dir) as it:
            for entry in it:
                ours = entry.name.startswith((SNAPSHOT_PREFIX, CLIP_PREFIX)) and entry.name.endswith((".jpg", ".mp4"))
                if ours and PART not in entry.name and entry.is_file():
                    st = entry.stat()
                    files.append(StoredFile(entry.name, st.st_size, st.st_mtime))
        for name in plan_retention(files, self.policy, time.time()):
            try:
                os.remove(os.path.join(self.dir, name))
                self.deleted += 1
            except FileNotFoundError:
                pass
        del self.saved[: max(0, len(self.saved) - 1000)]

    def metrics(self) -> list[Metric]:
        c = self.worker.counters
        return [
            counter("camapp_snapshots_saved_total", "Snapshot JPEGs and clips written.", self.written),
            counter("camapp_snapshots_deleted_total", "Snapshot files deleted by retention.", self.deleted),
            counter("camapp_output_dropped_total", "Items an output threw away because its queue was full.", c.dropped, output="snapshots"),
            counter("camapp_output_errors_total", "Items an output failed to deliver.", c.errors, output="snapshots"),
        ]

    def close(self) -> None:
        if self._clip is not None:
            self._finish_clip()  # a run that ends mid-clip keeps what it has
        self.worker.close(timeout=10.0)
