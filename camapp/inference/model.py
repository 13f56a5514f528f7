"""A loaded model that turns frames into Results, whatever its task: one interpreter for the run.

What the model's outputs mean is its task's business (camapp.inference.tasks): this module reads
the file, finds the task, loads labels, and runs preprocess -> invoke -> the task's decoder.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from camapp.errors import InferenceError, ModelError
from camapp.frames import Frame, Image
from camapp.inference import runtime
from camapp.inference.crops import CropStage
from camapp.inference.labels import Labels, labels_from_metadata, read_labels_file
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import InputSpec, Preprocessor, Transform
from camapp.inference.tasks import TASKS, get_task, task_for_outputs
from camapp.inference.tensors import ModelInfo, TensorInfo, read_model_file
from camapp.results import Results

__all__ = ["Model", "ModelOptions", "inspect_model", "read_model_file"]

log = logging.getLogger(__name__)


def inspect_model(path: str, interpreter: Any, task: str = "auto") -> ModelInfo:
    inputs = [TensorInfo.from_details(d) for d in interpreter.get_input_details()]
    outputs = tuple(TensorInfo.from_details(d) for d in interpreter.get_output_details())
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] != 3:
        shapes = ", ".join(t.describe() for t in inputs)
        raise ModelError(f"'{path}' does not take one image (inputs: {shapes})", "camapp needs a model with one [1, H, W, 3] input")
    if inputs[0].dtype not in (np.uint8, np.int8, np.float32):
        raise ModelError(f"'{path}' has a {inputs[0].dtype.name} input", "camapp feeds uint8, int8 or float32 inputs")
    if task == "auto":
        found = task_for_outputs(outputs)
        if found is None:
            shapes = "; ".join(t.describe() for t in outputs)
            known = sorted(TASKS.values(), key=lambda t: t.plural.lower())
            raise ModelError(
                f"'{path}' is neither {' nor '.join(t.noun for t in known)} (outputs: {shapes})",
                "camapp runs " + " and ".join(f"{t.plural} with {t.needs}" for t in known),
            )
        return ModelInfo(path, inputs[0], outputs, found.name)
    wanted = get_task(task)
    if not wanted.matches(outputs):
        others = " or ".join(f"--task {name}" for name in TASKS if name != task)
        raise ModelError(f"'{path}' lacks {wanted.needs}, so it cannot run with task '{task}'", f"use {others} or auto")
    return ModelInfo(path, inputs[0], outputs, task)


class Model:
    """Load once, then run(frame) per frame. Not thread-safe: one inference worker owns it."""

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        content = read_model_file(options.path)
        self.interpreter = runtime.load_interpreter(content, options.path, options.threads)
        self.info: ModelInfo = inspect_model(options.path, self.interpreter, options.task)
        self.task = self.info.task
        self.task_plugin = get_task(self.task)
        self.labels = self._load_labels(content)
        inp = self.info.input
        self.preprocessor = Preprocessor(
            InputSpec(
                self.info.input_width, self.info.input_height, inp.dtype, inp.scale, inp.zero_point,
                options.mean, options.std, options.resize, options.interpolation,
            )
        )
        # Holding only the accessor (not the array) lets invoke() run: LiteRT refuses to invoke
        # while a numpy view of its internal buffers is alive.
        self._input_tensor = self.interpreter.tensor(inp.index)
        self._side_preprocessor: Preprocessor | None = None  # prepare()'s own, created on first use
        self.decoder = self.task_plugin.decoder(self.info, self.labels, options)
        # Detect, then classify: names what is in each box (set by camapp.app when crops.model is).
        self.crops: CropStage | None = None

    @property
    def runtime_name(self) -> str:
        return runtime.interpreter_class()[0]

    def _load_labels(self, content: bytes) -> Labels:
        if self.options.labels:
            labels = read_labels_file(self.options.labels)
        else:
            labels = labels_from_metadata(content, self.options.path) or Labels({}, 0, "")
            if not labels.names:
                log.warning("%s has no embedded labels and no --labels was given: classes are shown as numbers", self.options.path)
                return labels
        return self.task_plugin.fit_labels(labels, self.info)

    def set_input(self, image: Image) -> Transform:
        return self.preprocessor.into(image, self._input_tensor())

    def invoke(self) -> None:
        try:
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise InferenceError(f"inference failed: {exc}") from exc

    def tune(self, threshold: float | None = None, top_k: int | None = None) -> None:
        """New reading settings for the outputs (the control channel's TuneModel): the decoder is
        built again from the same model and labels, which takes microseconds."""
        o = self.options
        self.options = dataclasses.replace(
            o, threshold=o.threshold if threshold is None else threshold, top_k=o.top_k if top_k is None else top_k
        )
        self.decoder = self.task_plugin.decoder(self.info, self.labels, self.options)

    def decode(self, frame: Frame, transform: Transform, inference_ms: float) -> Results:
        results = self.decoder.decode(self.interpreter, frame, transform, inference_ms)
        return results if self.crops is None else self.crops.apply(frame, results)

    # -- the split used by the pipeline: prepare() on the capture thread, infer() on the worker --
    def new_input(self) -> NDArray[Any]:
        """A buffer shaped like the input tensor, to prepare a frame into outside the interpreter."""
        return np.empty(self.info.input.shape, self.info.input.dtype)

    def prepare(self, frame: Frame, buffer: NDArray[Any]) -> Transform:
        """Preprocess `frame` into `buffer` (from new_input()), as run() would into the input tensor.

        Meant for another thread than the one calling infer() / run(), so it has its own
        Preprocessor: the scratch buffers of the two never meet.
        """
        if self._side_preprocessor is None:
            self._side_preprocessor = Preprocessor(self.preprocessor.spec)
        return self._side_preprocessor.into(frame.inference_image, buffer)

    def infer(self, frame: Frame, buffer: NDArray[Any], transform: Transform) -> Results:
        """Run the model on a buffer prepare() filled; the same Results as run(frame) gives.

        inference_ms here is the interpreter alone (copy in + invoke): the preprocessing was
        done, and timed, elsewhere.
        """
        t0 = time.perf_counter()
        self.interpreter.set_tensor(self.info.input.index, buffer)
        self.invoke()
        inference_ms = (time.perf_counter() - t0) * 1000
        return self.decode(frame, transform, inference_ms)

    def run(self, frame: Frame) -> Results:
        """Preprocess, invoke and decode one frame; uses the frame's lores image when it has one."""
        t0 = time.perf_counter()
        transform = self.set_input(frame.inference_image)
        self.invoke()
        inference_ms = (time.perf_counter() - t0) * 1000
        return self.decode(frame, transform, inference_ms)

