"""The page as the camera's control panel: switch the model, tune, snapshot, save, compare (docs/web.md).

Routes (served by camapp.outputs.web.server; every POST needs the token, is refused without one
configured and from another site's page):

    GET  /api/controls        the settings now, the model chosen, the models available here, the config file
    POST /api/model           {"model": ID_OR_PATH} or {"backbone": "v1|v2|v3", "task": "classify|detect"}
    POST /api/settings        any of {"threshold": 0..1, "top_k": 1..100, "every": 1..1000, "overlay": true|false}
    POST /api/snapshot        the current annotated frame as a JPEG into snapshots.dir
    GET|POST /api/zones       the zones and lines counted now / new ones, as config data: {"zones": [...], "lines": [...]}
                              (either may be left out: it stays as it is); a zone or line that keeps its name keeps its totals
    POST /api/config/save     the changed settings, zones and lines into the run's config file (atomically, the old one as NAME.bak)
    GET|POST /api/compare     the backbone comparison (camapp.outputs.web.compare): {} one model per backbone,
                              {"all": true} every available size, {"models": [ID, ...]} those

Every change flows through the control channel (SwitchModel, TuneModel, TunePipeline, SetAreas), applied by the
worker between two frames. A new model is loaded by the `load` callable the composition root gives
(camapp.app builds it as every run does) on the HTTP thread that asked, so frames keep flowing while it
loads; one that fails to load leaves the old one running and answers 422 with the one-line error.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

from camapp.atomic import write_atomic
from camapp.config import LineConfig, ZoneConfig, area_data, parse_areas
from camapp.control import ControlChannel, SetAreas, SwitchModel, TuneModel, TunePipeline
from camapp.errors import CamappError, ConfigError
from camapp.outputs.web.api import ApiError, Reply, json_body, json_reply, switch_model
from camapp.outputs.web.compare import Comparison

log = logging.getLogger(__name__)

APPLY_WAIT_S = 10.0  # how long a change waits for the worker to apply it
BACKBONES = ("v1", "v2", "v3", "v3-small", "v3-large")
TASKS = ("classify", "detect")
CHOICE_HELP = 'give {"model": ID_OR_PATH} or {"backbone": "v1|v2|v3", "task": "classify|detect"}'




@dataclass(frozen=True)
class Settings:
    threshold: float
    top_k: int
    every: int
    overlay: bool


@dataclass(frozen=True)
class ModelChoice:
    """What the config says to run: a model id or path, or a backbone and task."""

    name: str | None = None
    backbone: str | None = None
    task: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ControlHooks:
    """What the panel may do, given by the composition root (camapp.app)."""

    switch: Callable[[ModelChoice, Settings], SwitchModel]  # loads a model (raises CamappError) and makes the command
    models: Callable[[], list[dict[str, Any]]]  # the zoo's models available here (cached or mirrored)
    snapshot: Callable[[], bytes | None]  # a current annotated JPEG, None when no frame comes
    web_overlay: Callable[[bool], None]  # the web view draws (or not) on its stream
    snapshots_dir: Path | None = None
    config_path: Path | None = None
    comparison: Comparison | None = None
    areas: Callable[[list[ZoneConfig], list[LineConfig], Settings], SetAreas] | None = None  # the command for new zones and lines
    shown: Callable[[], str] | None = None  # the model the web view names now (a switch answers once it names the new one)


@dataclass(frozen=True)
class Areas:
    """The zones and lines counted now, as the config gives them."""

    zones: list[ZoneConfig]
    lines: list[LineConfig]


class ControlPanel:
    def __init__(self, controls: ControlChannel, hooks: ControlHooks, settings: Settings, choice: ModelChoice,
                 areas: Areas | None = None) -> None:
        self.controls = controls
        self.hooks = hooks
        self.settings = settings
        self.choice = choice
        self.areas = areas or Areas([], [])
        # What the config file (and the command line) gave: saved is what differs.
        self.started_with = (settings, choice, self.areas)
        self._switching = threading.Lock()
        self.saved_at: float | None = None

    # -- dispatch --------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        try:
            if method != "POST":
                if path == "/api/compare":
                    return json_reply(self._compare_state())
                if path == "/api/zones":
                    return json_reply(area_data(self.areas.zones, self.areas.lines))
                return json_reply(self.state())
            request = json_body(body)
            if path == "/api/model":
                return json_reply(self.switch(request))
            if path == "/api/settings":
                return json_reply(self.tune(request))
            if path == "/api/snapshot":
                return json_reply(self.snapshot())
            if path == "/api/zones":
                return json_reply(self.set_areas(request))
            if path == "/api/config/save":
                return json_reply(self.save())
            if path == "/api/compare":
                return json_reply(self.compare(request), HTTPStatus.ACCEPTED)
            return json_reply({"error": "not found"}, HTTPStatus.NOT_FOUND)
        except ApiError as exc:
            return json_reply({"error": exc.message}, exc.status)

    def state(self) -> dict[str, Any]:
        cfg = self.hooks.config_path
        return {
            "settings": asdict(self.settings),
            "model": self.choice.to_dict(),
            "models": self.hooks.models(),
            "config_file": str(cfg) if cfg else None,
            "unsaved": self._changes(),
            "saved_at": self.saved_at,
            "switching": self._switching.locked(),
            "snapshots_dir": str(self.hooks.snapshots_dir) if self.hooks.snapshots_dir else None,
        }

    # -- the model -------------------------------------------------------------------------
    def switch(self, request: dict[str, Any]) -> dict[str, Any]:
        choice = _choice(request)
        if not self._switching.acquire(blocking=False):
            raise ApiError("a model is being loaded: wait for it", HTTPStatus.CONFLICT)
        try:
            t0 = time.monotonic()
            try:
                command = self.hooks.switch(choice, self.settings)  # loads here, on this HTTP thread
            except CamappError as exc:
                raise ApiError(f"cannot load {_shown(choice)}: {exc.message}", HTTPStatus.UNPROCESSABLE_ENTITY) from exc
            except Exception as exc:  # a file that is not a model, a runtime that rejects it: one line
                raise ApiError(f"cannot load {_shown(choice)}: {type(exc).__name__}: {exc}", HTTPStatus.UNPROCESSABLE_ENTITY) from exc
            loaded = time.monotonic() - t0
            if not switch_model(self.controls, command, APPLY_WAIT_S, self.hooks.shown):
                raise ApiError("the pipeline did not take the new model in time (is it running?)", HTTPStatus.SERVICE_UNAVAILABLE)
            self.choice = choice
            log.info("web: now running %s (loaded in %.2f s)", command.change.name, loaded)
            return {"model": command.change.name, "task": command.change.task, "load_s": round(loaded, 3)}
        finally:
            self._switching.release()

    # -- settings --------------------------------------------------------------------------
    def tune(self, request: dict[str, Any]) -> dict[str, Any]:
        known = {"threshold", "top_k", "every", "overlay"}
        unknown = sorted(set(request) - known)
        if unknown:
            raise ApiError(f"unknown setting '{unknown[0]}': allowed are threshold, top_k, every, overlay")
        if not request:
            raise ApiError('give at least one setting, e.g. {"threshold": 0.5}')
        threshold = _number(request, "threshold", 0.0, 1.0, "a number from 0 to 1", integer=False)
        top_k = _number(request, "top_k", 1, 100, "a whole number from 1 to 100")
        every = _number(request, "every", 1, 1000, "a whole number from 1 to 1000")
        overlay = request.get("overlay")
        if overlay is not None and not isinstance(overlay, bool):
            raise ApiError(f"overlay must be true or false, got {json.dumps(overlay)}")
        new = replace(
            self.settings,
            threshold=self.settings.threshold if threshold is None else float(threshold),
            top_k=self.settings.top_k if top_k is None else int(top_k),
            every=self.settings.every if every is None else int(every),
            overlay=self.settings.overlay if overlay is None else overlay,
        )
        if threshold is not None or top_k is not None:
            ticket = self.controls.send(TuneModel(None if threshold is None else float(threshold), None if top_k is None else int(top_k)))
            if not ticket.wait(APPLY_WAIT_S):
                raise ApiError("the pipeline did not apply the threshold / top_k (is it running?)", HTTPStatus.SERVICE_UNAVAILABLE)
        if every is not None or overlay is not None:
            ticket = self.controls.send(TunePipeline(None if every is None else int(every), overlay))
            if not ticket.wait(APPLY_WAIT_S):
                raise ApiError("the pipeline did not apply every / overlay (is it running?)", HTTPStatus.SERVICE_UNAVAILABLE)
        if overlay is not None:
            self.hooks.web_overlay(overlay)  # the stream's own drawing (the web view draws on its encoder thread)
        self.settings = new
        return {"settings": asdict(new), "unsaved": self._changes()}

    # -- zones and lines -------------------------------------------------------------------
    def set_areas(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.hooks.areas is None:
            raise ApiError("zones and lines cannot be changed in this run", HTTPStatus.NOT_FOUND)
        now = area_data(self.areas.zones, self.areas.lines)
        try:
            zones, lines = parse_areas({**now, **request})
        except ConfigError as exc:
            raise ApiError(exc.message + (f" ({exc.hint})" if exc.hint else ""), HTTPStatus.UNPROCESSABLE_ENTITY) from exc
        if not self.controls.send(self.hooks.areas(zones, lines, self.settings)).wait(APPLY_WAIT_S):
            raise ApiError("the pipeline did not take the zones and lines in time (is it running?)", HTTPStatus.SERVICE_UNAVAILABLE)
        self.areas = Areas(zones, lines)
        log.info("web: now counting in %d zone(s) and across %d line(s)", len(zones), len(lines))
        return {**area_data(zones, lines), "unsaved": self._changes()}

    # -- snapshot --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        folder = self.hooks.snapshots_dir
        if folder is None:
            raise ApiError("no snapshots folder: set snapshots.dir (or --snapshots DIR); GET /snapshot.jpg downloads one",
                               HTTPStatus.CONFLICT)
        jpeg = self.hooks.snapshot()
        if jpeg is None:
            raise ApiError("no frame within 3 s: the source is not delivering", HTTPStatus.SERVICE_UNAVAILABLE)
        folder.mkdir(parents=True, exist_ok=True)
        name = time.strftime("manual-%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}.jpg"
        path = folder / name
        try:
            _write_atomically(path, jpeg)
        except OSError as exc:
            raise ApiError(f"cannot write {path}: {exc.strerror or exc}", HTTPStatus.INTERNAL_SERVER_ERROR) from exc
        log.info("web: snapshot saved to %s", path)
        return {"saved": str(path), "bytes": len(jpeg)}

    # -- saving to the config file ---------------------------------------------------------
    def _changes(self) -> dict[str, Any]:
        """Config keys whose value now differs from the run's start."""
        settings, choice, areas = self.started_with
        out: dict[str, Any] = {}
        if self.choice != choice:
            c = self.choice
            out.update({"model.name": c.name} if c.name else {"model.backbone": c.backbone, "model.task": c.task})
        keys = {"threshold": "model.threshold", "top_k": "model.top_k", "every": "pipeline.every", "overlay": "output.overlay"}
        for attr, key in keys.items():
            if getattr(self.settings, attr) != getattr(settings, attr):
                out[key] = getattr(self.settings, attr)
        if self.areas != areas:
            out.update(area_data(self.areas.zones, self.areas.lines))  # whole lists: "zones" and "lines" are top-level keys
        return out

    def save(self) -> dict[str, Any]:
        path = self.hooks.config_path
        if path is None:
            raise ApiError("this run has no config file to save to: start it with --config FILE (or CAMAPP_CONFIG)",
                               HTTPStatus.CONFLICT)
        changes = self._changes()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ApiError(f"cannot read {path}: {exc}", HTTPStatus.CONFLICT) from exc
        if not isinstance(data, dict):
            raise ApiError(f"{path} is not a YAML mapping: not changed", HTTPStatus.CONFLICT)
        if "model.name" in changes or "model.backbone" in changes:
            model = data.setdefault("model", {})
            for key in ("name", "backbone", "alpha", "resolution", "labels"):
                model.pop(key, None)  # another model's choice or labels would contradict the new one
            if "model.backbone" in changes and model.get("task") == "auto":
                model.pop("task")
        for key in ("zones", "lines"):
            if key in changes:
                data.pop(key, None)  # none left: the key goes (an empty list would say the same, less plainly)
                if changes[key]:
                    data[key] = changes[key]
        for key, value in changes.items():
            if "." not in key:
                continue
            section, name = key.split(".")
            part = data.setdefault(section, {})
            if not isinstance(part, dict):
                raise ApiError(f"{path}: '{section}' is not a mapping: not changed", HTTPStatus.CONFLICT)
            part[name] = value
        text = "# saved by camapp from the web page; the previous version is " + path.name + ".bak\n"
        text += yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        try:
            if path.exists():
                shutil.copy2(path, path.with_name(path.name + ".bak"))
            _write_atomically(path, text.encode())
        except OSError as exc:
            raise ApiError(f"cannot write {path}: {exc.strerror or exc}", HTTPStatus.INTERNAL_SERVER_ERROR) from exc
        self.started_with = (self.settings, self.choice, self.areas)
        self.saved_at = time.time()
        log.info("web: saved %s to %s", ", ".join(changes) or "no changes", path)
        return {"saved": str(path), "backup": str(path.with_name(path.name + ".bak")), "changed": changes}

    # -- comparison ------------------------------------------------------------------------
    def compare(self, request: dict[str, Any]) -> dict[str, Any]:
        comparison = self.hooks.comparison
        if comparison is None:
            raise ApiError("comparing models is not available in this run", HTTPStatus.NOT_FOUND)
        ids = request.get("models")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise ApiError('models must be a list of model ids: {"models": ["mobilenet_v1_0.75_192_quant", ...]}')
        every_size = request.get("all", False)
        if not isinstance(every_size, bool):
            raise ApiError(f"all must be true or false, got {json.dumps(every_size)}")
        try:
            return comparison.start(ids, every_size)
        except ValueError as exc:
            raise ApiError(str(exc), HTTPStatus.CONFLICT) from exc
        except LookupError as exc:
            raise ApiError(str(exc)) from exc

    def _compare_state(self) -> dict[str, Any]:
        if self.hooks.comparison is None:
            raise ApiError("comparing models is not available in this run", HTTPStatus.NOT_FOUND)
        return self.hooks.comparison.state()

    def close(self) -> None:
        if self.hooks.comparison is not None:
            self.hooks.comparison.close()


def _choice(request: dict[str, Any]) -> ModelChoice:
    unknown = sorted(set(request) - {"model", "backbone", "task"})
    if unknown:
        raise ApiError(f"unknown key '{unknown[0]}': {CHOICE_HELP}")
    model, backbone, task = request.get("model"), request.get("backbone"), request.get("task")
    if task is not None and task not in TASKS:
        raise ApiError(f"task must be one of {', '.join(TASKS)}, got {json.dumps(task)}")
    if model is not None:
        if backbone is not None:
            raise ApiError("give either model or backbone, not both")
        if not isinstance(model, str) or not model.strip() or len(model) > 500:
            raise ApiError("model must be a model id (camapp models list) or a .tflite path")
        return ModelChoice(name=model.strip(), task=task or "auto")
    if backbone is None:
        raise ApiError(CHOICE_HELP)
    if backbone not in BACKBONES:
        raise ApiError(f"backbone must be one of {', '.join(BACKBONES)}, got {json.dumps(backbone)}")
    return ModelChoice(backbone=backbone, task=task or "classify")


def _shown(choice: ModelChoice) -> str:
    return choice.name or f"backbone {choice.backbone} ({choice.task})"


def _number(request: dict[str, Any], key: str, low: float, high: float, allowed: str, integer: bool = True) -> float | None:
    if key not in request:
        return None
    value = request[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or not low <= value <= high:
        raise ApiError(f"{key} must be {allowed}, got {json.dumps(value)}")
    return float(value)


def _write_atomically(path: Path, data: bytes) -> None:
    """camapp.atomic's write, keeping the old file's permissions (a config with a token may be 0600)."""
    write_atomic(path, data, path.stat().st_mode & 0o777 if path.exists() else 0o644)




