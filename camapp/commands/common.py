"""Arguments shared by subcommands, and turning them into a Config and a loaded Model."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from camapp.config import Config, load_config

log = logging.getLogger("camapp")

# argparse dest -> config key. Options default to None so that only what the user typed
# overrides the file and the environment.
MODEL_ARGS = {
    "model": "model.name",
    "labels": "model.labels",
    "task": "model.task",
    "threads": "model.threads",
    "top_k": "model.top_k",
    "threshold": "model.threshold",
    "resize": "model.resize",
    "backbone": "model.backbone",
    "alpha": "model.alpha",
    "resolution": "model.resolution",
}


def count_or_auto(value: str) -> int | str:
    """--threads / --workers: a number, or auto (the config then checks the range)."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value '{value}' (a number or auto)") from None


def task_name(value: str) -> str:
    """--task: checked against the task registry when given (importing it for every --help would be slow)."""
    from camapp.inference.tasks import TASKS

    if value != "auto" and value not in TASKS:
        raise argparse.ArgumentTypeError(f"invalid task '{value}' (choose from auto, {', '.join(sorted(TASKS))})")
    return value


MODEL_SETTINGS = ("top_k", "threshold")  # how outputs are read; each task names the ones it uses (Task.settings)


def add_model_args(p: argparse.ArgumentParser, settings: tuple[str, ...] = MODEL_SETTINGS) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", help="a .tflite file or a model id (camapp models list)")
    g.add_argument("--labels", "-l", help="labels file (default: the model's metadata or manifest entry)")
    g.add_argument("--task", type=task_name, metavar="TASK", help="override the task read from the model: auto, classify or detect")
    g.add_argument("--threads", type=count_or_auto, metavar="N|auto", help="threads per interpreter (default auto)")
    if "top_k" in settings:
        g.add_argument("--top-k", type=int, dest="top_k", help="classes per frame for classifiers (default 5)")
    if "threshold" in settings:
        g.add_argument("--threshold", type=float, help="minimum detection score (default 0.5)")
    g.add_argument("--resize", choices=["stretch", "letterbox", "crop"], help="how frames are fitted to the model input")
    g.add_argument("--backbone", choices=["v1", "v2", "v3", "v3-small", "v3-large"], help="pick the manifest's model for this backbone")
    g.add_argument("--alpha", type=float, help="narrow --backbone to this width multiplier")
    g.add_argument("--resolution", type=int, help="narrow --backbone to this input size")


CROPS_ARGS = {"crops": "crops.model", "crops_labels": "crops.labels"}


def add_crops_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("detect, then classify (docs/teach.md)")
    g.add_argument("--crops", metavar="MODEL",
                   help="a classifier that names what is inside each detected box (e.g. from camapp teach build)")
    g.add_argument("--crops-labels", dest="crops_labels", metavar="A,B",
                   help="classify only boxes with these detector labels (default: all)")


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML config file (see configs/)")
    p.add_argument("--debug", action="store_true", help="debug logging, and tracebacks on errors")
    p.add_argument("--log-level", dest="log_level", choices=["debug", "info", "warning", "error"], help="log level")


def overrides(args: argparse.Namespace, mapping: dict[str, str]) -> dict[str, Any]:
    return {key: getattr(args, dest) for dest, key in mapping.items() if getattr(args, dest, None) is not None}


def build_config(args: argparse.Namespace, mapping: dict[str, str], extra: dict[str, Any] | None = None) -> Config:
    values = overrides(args, mapping)
    if getattr(args, "log_level", None):
        values["log.level"] = args.log_level
    values.update(extra or {})
    return load_config(getattr(args, "config", None) or os.environ.get("CAMAPP_CONFIG"), overrides=values)
