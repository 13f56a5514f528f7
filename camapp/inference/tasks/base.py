"""What a task is to camapp: a kind of model output, decoded into its own kind of Results.

A task module (classify.py, detect.py) provides one object that satisfies Task and registers it
in camapp/inference/tasks/__init__.py. Everything task-specific lives in that module: which
outputs it recognises, how labels fit them, how outputs become Results, and (on its Results
subclass) how those serialise, draw and summarise.
"""

from __future__ import annotations

from typing import Any, Protocol

from camapp.frames import Frame
from camapp.inference.labels import Labels
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import Transform
from camapp.inference.tensors import ModelInfo, TensorInfo
from camapp.results import Results


class Decoder(Protocol):
    """One model's outputs -> Results; built once per model, called once per frame on the worker."""

    def decode(self, interpreter: Any, frame: Frame, transform: Transform, inference_ms: float) -> Results: ...


class Task(Protocol):
    @property
    def name(self) -> str:
        """The registry key, the config's model.task, "task" in /api/status."""
        ...

    @property
    def noun(self) -> str:
        """What a model of this task is called in messages, with its article ("an image classifier")."""
        ...

    @property
    def plural(self) -> str:
        """The same in the plural ("image classifiers")."""
        ...

    @property
    def needs(self) -> str:
        """The outputs it recognises, for "cannot run with task X" messages."""
        ...

    @property
    def results_type(self) -> type[Results]: ...

    @property
    def command_help(self) -> str:
        """The help line of its image command (`camapp classify`, `camapp detect`)."""
        ...

    @property
    def settings(self) -> tuple[str, ...]:
        """The model settings that change how its outputs are read ("top_k", "threshold")."""
        ...

    def matches(self, outputs: tuple[TensorInfo, ...]) -> bool:
        """Whether a model with these outputs can run as this task."""
        ...

    def fit_labels(self, labels: Labels, info: ModelInfo) -> Labels:
        """The labels made to fit this model's outputs (or a one-line error)."""
        ...

    def decoder(self, info: ModelInfo, labels: Labels, options: ModelOptions) -> Decoder: ...
