"""What a .tflite file holds: its tensors as camapp sees them, read from the file and the interpreter."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from camapp.errors import ModelError
from camapp.inference.flatbuffer import check_tflite

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
class ModelInfo:
    path: str
    input: TensorInfo
    outputs: tuple[TensorInfo, ...]
    task: str  # a name in the task registry (camapp.inference.tasks)

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
