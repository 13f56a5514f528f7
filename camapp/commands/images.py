"""camapp classify / camapp detect: one JSON line per image."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from camapp.app import attach_crops, build_model
from camapp.commands.common import CROPS_ARGS, MODEL_ARGS, add_common_args, add_crops_args, add_model_args, build_config
from camapp.errors import EXIT_OK, EXIT_USAGE, InputError
from camapp.frames import Frame
from camapp.inference.tasks import TASKS
from camapp.outputs.base import overlay_style
from camapp.outputs.recorder import ImageFolderRecorder
from camapp.overlay import render
from camapp.sources.spec import IMAGE_EXTENSIONS
from camapp.sources.still import list_images, read_image

log = logging.getLogger("camapp")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """One command per task in the registry (`camapp classify`, `camapp detect`), with its own settings."""
    for name in sorted(TASKS):
        task = TASKS[name]
        p = sub.add_parser(name, help=task.command_help, description=task.command_help)
        p.add_argument("images", nargs="+", metavar="IMAGE", help="image files, folders or globs")
        add_model_args(p, task.settings)
        if name == "detect":
            add_crops_args(p)
        p.add_argument("--save", metavar="DIR", help="write annotated images to this folder")
        add_common_args(p)
        p.set_defaults(handler=run_images, task_name=name)


def expand_inputs(items: list[str]) -> list[str]:
    paths: list[str] = []
    for item in items:
        if os.path.isdir(item) or any(ch in item for ch in "*?["):
            found = list_images(item)
            if not found:
                log.error("no images in '%s' (extensions: %s)", item, ", ".join(IMAGE_EXTENSIONS))
            paths.extend(found)
        else:
            paths.append(item)
    return paths


def run_images(args: argparse.Namespace) -> int:
    cfg = build_config(args, {**MODEL_ARGS, **CROPS_ARGS})
    model = build_model(cfg.model, task=args.task_name if cfg.model.task == "auto" else cfg.model.task)
    attach_crops(cfg, (model,), model.options.threads)
    if model.task != args.task_name:
        log.warning("the model is a %s model; 'camapp %s' runs it as one", model.task, args.task_name)
    saver = ImageFolderRecorder(args.save) if args.save else None
    style = overlay_style(cfg)
    failures = 0
    for index, path in enumerate(expand_inputs(args.images)):
        try:
            image = read_image(path)
        except InputError as exc:
            # One bad image is reported and the rest still run.
            print(f"camapp: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        frame = Frame(image, index, 0, path)
        results = model.run(frame)
        out = results.to_dict()
        out.pop("frame", None)
        print(json.dumps(out), flush=True)
        if saver:
            saver.save(frame, render(image, results, style))
    return EXIT_USAGE if failures else EXIT_OK
