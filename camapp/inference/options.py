"""How to build a model: an options object rather than a long argument list."""

from __future__ import annotations

from dataclasses import dataclass

from camapp.inference.preprocess import ResizeMode


@dataclass(frozen=True)
class ModelOptions:
    path: str
    labels: str | None = None
    task: str = "auto"  # "auto" (read from the model's outputs) or a name in camapp.inference.tasks
    threads: int = 2
    top_k: int = 5
    threshold: float = 0.5
    max_detections: int = 100
    resize: ResizeMode = "stretch"
    interpolation: str = "linear"
    mean: float | None = None  # None: raw pixels for quantised inputs, (p - 127.5) / 127.5 for float
    std: float | None = None
