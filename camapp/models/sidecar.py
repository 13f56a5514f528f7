"""Your own model without touching the manifest: a `my.yaml` beside `my.tflite`.

    labels: my_labels.txt        # relative to the yaml file
    task: classify               # or detect (default: read from the model's outputs)
    input_size: [224, 224]       # width, height (or one number): checked against the model
    mean: 127.5                  # the model wants (pixel - mean) / std
    std: 127.5
    resize: letterbox            # stretch | letterbox | crop

Anything given on the command line, in the config file or the environment wins over the sidecar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from camapp.errors import ConfigError, ModelError
from camapp.inference.options import ModelOptions
from camapp.inference.tasks import check_task_name


class Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: str | None = Field(None, description="labels file, relative to the sidecar")
    task: str | None = None  # "auto" or a name in the task registry
    input_size: int | tuple[int, int] | None = Field(None, description="[width, height] the model takes")
    mean: float | None = None
    std: float | None = Field(None, gt=0)
    resize: Literal["stretch", "letterbox", "crop"] | None = None
    interpolation: Literal["linear", "area", "nearest"] | None = None

    @field_validator("task")
    @classmethod
    def _task_is_registered(cls, value: str | None) -> str | None:
        return None if value is None else check_task_name(value)


def sidecar_path(model_path: str) -> Path:
    return Path(model_path).with_suffix(".yaml")


def read_sidecar(model_path: str) -> Sidecar | None:
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the model sidecar {path}: {exc}", "fix or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the model sidecar {path} must be a mapping", f"keys: {', '.join(Sidecar.model_fields)}")
    try:
        sidecar = Sidecar.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        hint = f"keys: {', '.join(Sidecar.model_fields)}" if err["type"] == "extra_forbidden" else None
        raise ConfigError(f"model sidecar {path}: key '{key}': {err['msg']}", hint) from None
    if sidecar.labels:
        sidecar.labels = str((path.parent / sidecar.labels).resolve())
    return sidecar


def apply_sidecar(options: ModelOptions, explicit: Collection[str]) -> ModelOptions:
    """Fill the options the user did not set (`explicit` names them) from the model's sidecar."""
    sidecar = read_sidecar(options.path)
    if sidecar is None:
        return options
    values = {k: v for k, v in sidecar.model_dump(exclude={"input_size"}).items() if v is not None and k not in explicit}
    return dataclasses.replace(options, **values)


def check_input_size(model_path: str, width: int, height: int) -> None:
    """A sidecar that names another input size belongs to another model: say so before running."""
    sidecar = read_sidecar(model_path)
    if sidecar is None or sidecar.input_size is None:
        return
    size = sidecar.input_size
    want_w, want_h = (size, size) if isinstance(size, int) else size
    if (want_w, want_h) != (width, height):
        raise ModelError(
            f"{sidecar_path(model_path)} says input_size {want_w}x{want_h} but {model_path} takes {width}x{height}",
            "fix input_size in the sidecar (or remove it)",
        )
