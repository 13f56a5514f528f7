"""The task registry: every kind of model camapp can run, by name.

Adding a task is one module (see base.Task: which outputs it recognises, how they decode, and a
Results subclass that serialises, draws and summarises itself) plus one entry in TASKS. Nothing
outside this package compares task names.
"""

from __future__ import annotations

from camapp.inference.tasks import classify, detect
from camapp.inference.tasks.base import Task
from camapp.inference.tensors import TensorInfo

# Auto-detection tries them in this order: the first whose outputs match is the model's task.
TASKS: dict[str, Task] = {task.name: task for task in (detect.TASK, classify.TASK)}


def get_task(name: str) -> Task:
    """The task called `name`; KeyError for a name the config check let through (it cannot)."""
    return TASKS[name]


def task_for_outputs(outputs: tuple[TensorInfo, ...]) -> Task | None:
    return next((task for task in TASKS.values() if task.matches(outputs)), None)


def check_task_name(value: str) -> str:
    """A config or sidecar value for the task: "auto" or a registered name, else pydantic's usual error."""
    from pydantic_core import PydanticCustomError

    allowed = ("auto", *sorted(TASKS))
    if value not in allowed:
        quoted = [repr(name) for name in allowed]
        raise PydanticCustomError("task_name", "Input should be {allowed}", {"allowed": ", ".join(quoted[:-1]) + " or " + quoted[-1]})
    return value
