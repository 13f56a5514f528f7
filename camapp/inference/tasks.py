"""A loaded model that turns frames into Results: classifier or SSD detector, one interpreter for the run."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from camapp.errors import InferenceError, ModelError
from camapp.frames import Frame, Image
from camapp.inference import classify, runtime
from camapp.inference.detect import SsdDecoder
from camapp.inference.labels import Labels, fit_classifier_labels, fit_detector_labels, labels_from_metadata, read_labels_file
from camapp.inference.model import ModelInfo, classifier_output, find_ssd_outputs, inspect_model, names_settle_ssd_order, read_model_file
from camapp.inference.preprocess import InputSpec, Preprocessor, ResizeMode, Transform
from camapp.results import Results

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOptions:
    """Everything needed to build a model; an options object rather than a long argument list."""

    path: str
    labels: str | None = None
    task: Literal["auto", "classify", "detect"] = "auto"
    threads: int = 2
    top_k: int = 5
    threshold: float = 0.5
    max_detections: int = 100
    resize: ResizeMode = "stretch"
    interpolation: str = "linear"
    mean: float | None = None  # None: raw pixels for quantised inputs, (p - 127.5) / 127.5 for float
    std: float | None = None


class Model:
    """Load once, then run(frame) per frame. Not thread-safe: one inference worker owns it."""

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        content = read_model_file(options.path)
        self.interpreter = runtime.load_interpreter(content, options.path, options.threads)
        self.info: ModelInfo = inspect_model(options.path, self.interpreter, options.task)
        self.task = self.info.task
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
        if self.task == "detect":
            ssd = find_ssd_outputs(self.info.outputs)
            assert ssd is not None  # inspect_model checked it
            self._decoder = SsdDecoder(ssd, self.labels, names_settle_ssd_order(self.info.outputs))
        else:
            self._out = classifier_output(self.info.outputs)
            assert self._out is not None
            self._probability = classify.output_is_probability(self._out)

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
        if self.task == "classify":
            out = classifier_output(self.info.outputs)
            assert out is not None
            return fit_classifier_labels(labels, out.shape[-1])
        if len(labels) > 1000:
            raise ModelError(
                f"labels file '{labels.origin}' has {len(labels)} labels, too many for an SSD detector",
                "give the detector's own labels file",
            )
        return fit_detector_labels(labels)

    def set_input(self, image: Image) -> Transform:
        return self.preprocessor.into(image, self._input_tensor())

    def invoke(self) -> None:
        try:
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise InferenceError(f"inference failed: {exc}") from exc

    def decode(self, frame: Frame, transform: Transform, inference_ms: float) -> Results:
        h, w = frame.image.shape[:2]
        results = Results(self.task, frame.source_id, frame.index, frame.timestamp_ns, w, h, inference_ms)
        if self.task == "detect":
            tensors = {i: self.interpreter.get_tensor(i) for i in self._decoder_indices()}
            results.detections = self._decoder.decode(tensors, transform, self.options.threshold, self.options.max_detections)
        else:
            assert self._out is not None
            scores = classify.dequantize(self.interpreter.get_tensor(self._out.index).reshape(-1), self._out)
            probability = self._probability
            if probability is None:
                probability = classify.looks_like_probability(scores)
            if not probability:
                scores = classify.softmax(scores)
            results.classes = classify.top_k(scores, self.labels, self.options.top_k)
        return results

    def _decoder_indices(self) -> tuple[int, ...]:
        o = self._decoder.outputs
        return (o.boxes, o.classes, o.scores, o.count)

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

