"""What a .tflite file is: its input, its outputs, and therefore its task. Read from the file itself."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from camapp.errors import ModelError
from camapp.inference.flatbuffer import check_tflite
from camapp.results import Task

TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class TensorInfo:
    name: str
    index: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scale: float  # 0.0 when the tensor is not quantised
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @classmethod
    def from_details(cls, d: dict[str, Any]) -> TensorInfo:
        scale, zero_point = d.get("quantization", (0.0, 0))
        return cls(d["name"], int(d["index"]), tuple(int(v) for v in d["shape"]), np.dtype(d["dtype"]), float(scale), int(zero_point))

    def describe(self) -> str:
        q = f" q=({self.scale:.6g}, {self.zero_point})" if self.quantized else ""
        return f"{self.name} {list(self.shape)} {self.dtype.name}{q}"


@dataclass(frozen=True)
class SsdOutputs:
    """Output tensor indices of an SSD with TFLite_Detection_PostProcess, found by name or shape."""

    boxes: int
    classes: int
    scores: int
    count: int


@dataclass(frozen=True)
class ModelInfo:
    path: str
    input: TensorInfo
    outputs: tuple[TensorInfo, ...]
    task: Task

    @property
    def input_height(self) -> int:
        return self.input.shape[1]

    @property
    def input_width(self) -> int:
        return self.input.shape[2]


def read_model_file(path: str) -> bytes:
    if not os.path.exists(path):
        raise ModelError(f"model file '{path}' does not exist", "check the --model path, or give a model id from 'camapp models list'")
    if os.path.isdir(path):
        raise ModelError(f"model '{path}' is a folder", "give the .tflite file inside it")
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError as exc:
        raise ModelError(f"cannot read model file '{path}': {exc.strerror}", "check its permissions") from exc
    # A flatbuffer carries its file identifier at bytes 4..8; anything else (an HTML error page,
    # a truncated download, a .zip) would otherwise crash deep inside the runtime.
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(f"'{path}' is not a TFLite model (no TFL3 header)", "download the .tflite file again")
    # tflite_runtime does not verify the flatbuffer and segfaults on a truncated file, so check
    # here that everything the model refers to lies inside the file (see flatbuffer.py).
    problem = check_tflite(content)
    if problem is not None:
        raise ModelError(f"'{path}' is not a valid TFLite model (damaged or truncated: {problem})", "download the .tflite file again")
    return content


def inspect_model(path: str, interpreter: Any, task: Literal["auto", "classify", "detect"] = "auto") -> ModelInfo:
    inputs = [TensorInfo.from_details(d) for d in interpreter.get_input_details()]
    outputs = tuple(TensorInfo.from_details(d) for d in interpreter.get_output_details())
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] != 3:
        shapes = ", ".join(t.describe() for t in inputs)
        raise ModelError(f"'{path}' does not take one image (inputs: {shapes})", "camapp needs a model with one [1, H, W, 3] input")
    if inputs[0].dtype not in (np.uint8, np.int8, np.float32):
        raise ModelError(f"'{path}' has a {inputs[0].dtype.name} input", "camapp feeds uint8, int8 or float32 inputs")
    found: Task | None = "detect" if find_ssd_outputs(outputs) else ("classify" if classifier_output(outputs) else None)
    if task == "auto":
        if found is None:
            shapes = "; ".join(t.describe() for t in outputs)
            raise ModelError(
                f"'{path}' is neither an image classifier nor an SSD detector (outputs: {shapes})",
                "camapp runs classifiers with one [1, classes] output and SSD detectors with TFLite_Detection_PostProcess",
            )
        task = found
    elif task == "detect" and not find_ssd_outputs(outputs):
        raise ModelError(f"'{path}' has no SSD detection outputs, so it cannot run with task 'detect'", "use --task classify or auto")
    elif task == "classify" and classifier_output(outputs) is None:
        raise ModelError(f"'{path}' has no [1, classes] output, so it cannot run with task 'classify'", "use --task detect or auto")
    return ModelInfo(path, inputs[0], outputs, task)


def classifier_output(outputs: tuple[TensorInfo, ...]) -> TensorInfo | None:
    if len(outputs) != 1:
        return None
    shape = outputs[0].shape
    # [1, C] or the [1, 1, 1, C] some slim exports keep.
    if len(shape) >= 2 and shape[0] == 1 and all(s == 1 for s in shape[1:-1]) and shape[-1] > 1:
        return outputs[0]
    return None


_NAME_HINTS = {
    "boxes": re.compile(r"box|location", re.I),
    "classes": re.compile(r"class|categor", re.I),
    "scores": re.compile(r"score", re.I),
    "count": re.compile(r"num|count", re.I),
}


def find_ssd_outputs(outputs: tuple[TensorInfo, ...]) -> SsdOutputs | None:
    """Map the four post-processed SSD outputs by shape first, then by name.

    TF1 exports name them TFLite_Detection_PostProcess, :1, :2, :3 (boxes, classes, scores,
    count); TF2 exports use StatefulPartitionedCall:N in a different order; models with metadata
    call them location / category / score / number of detections. Shapes settle boxes and count;
    classes and scores have the same [1, N] shape and are told apart by name when possible, else
    at the first inference by their values (see SsdDecoder).
    """
    if len(outputs) != 4:
        return None
    boxes = [t for t in outputs if len(t.shape) == 3 and t.shape[-1] == 4]
    count = [t for t in outputs if t.shape in ((1,), ())]
    pair = [t for t in outputs if len(t.shape) == 2]
    if len(boxes) != 1 or len(count) != 1 or len(pair) != 2:
        return None
    a, b = pair
    named_swapped = _NAME_HINTS["scores"].search(a.name) or _NAME_HINTS["classes"].search(b.name)
    if named_swapped or (a.name.endswith("PostProcess:2") and b.name.endswith("PostProcess:1")):
        a, b = b, a
    return SsdOutputs(boxes=boxes[0].index, classes=a.index, scores=b.index, count=count[0].index)


def names_settle_ssd_order(outputs: tuple[TensorInfo, ...]) -> bool:
    """True when tensor names (not just a guess) say which [1, N] output holds classes."""
    names = [t.name for t in outputs if len(t.shape) == 2]
    if any(n.endswith(("PostProcess:1", "PostProcess:2")) for n in names):
        return True
    return any(_NAME_HINTS["scores"].search(n) or _NAME_HINTS["classes"].search(n) for n in names)
