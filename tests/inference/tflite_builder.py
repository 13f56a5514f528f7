"""Write tiny but genuine .tflite files without TensorFlow: a minimal flatbuffer writer for the
few TFLite schema tables the tests need (tensorflow/lite/schema/schema.fbs field ids).

The shared models are all uint8 classifiers or one TF1 SSD, so the tests build what they lack:
a model that is neither a classifier nor a detector, and float32 / int8 input classifiers, all of
them loaded by the real runtime like any downloaded file.

Layout: objects are written front to back, each parent before its children, so every uoffset
points forward as flatbuffers requires; vtables sit just before their table. Everything is
aligned to its size (the LiteRT verifier checks alignment).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLOAT32, INT32, UINT8, INT8 = 0, 2, 3, 9
ADD, RESHAPE = 0, 22
ADD_OPTIONS, RESHAPE_OPTIONS = 11, 17  # BuiltinOptions union type numbers


@dataclass
class S:
    """A scalar field."""

    fmt: str
    value: Any


@dataclass
class Vec:
    fmt: str
    values: list[Any]
    align: int = 0


@dataclass
class Str:
    text: str


@dataclass
class Tab:
    fields: dict[int, Any] = field(default_factory=dict)


@dataclass
class TabVec:
    tables: list[Tab]


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray(8)
        self.buf[4:8] = b"TFL3"

    def pad(self, alignment: int, extra: int = 0) -> None:
        while (len(self.buf) + extra) % alignment:
            self.buf.append(0)

    def write(self, obj: Any) -> int:
        if isinstance(obj, Tab):
            return self._table(obj)
        if isinstance(obj, Str):
            data = obj.text.encode()
            self.pad(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(data)) + data + b"\0"
            return pos
        if isinstance(obj, Vec):
            size = struct.calcsize("<" + obj.fmt)
            self.pad(max(4, size, obj.align), extra=4)  # the elements, after the length, are aligned
            pos = len(self.buf)
            self.buf += struct.pack(f"<I{len(obj.values)}{obj.fmt}", len(obj.values), *obj.values)
            return pos
        if isinstance(obj, TabVec):
            self.pad(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.tables)) + bytes(4 * len(obj.tables))
            for i, table in enumerate(obj.tables):
                slot = pos + 4 + 4 * i
                struct.pack_into("<I", self.buf, slot, self.write(table) - slot)
            return pos
        raise TypeError(obj)

    def _table(self, table: Tab) -> int:
        # Inline layout: soffset, then fields largest first so each is aligned to its size.
        def size(v: Any) -> int:
            return struct.calcsize("<" + v.fmt) if isinstance(v, S) else 4

        order = sorted(table.fields, key=lambda fid: -size(table.fields[fid]))
        offsets: dict[int, int] = {}
        at = 4
        for fid in order:
            at += -at % size(table.fields[fid])
            offsets[fid] = at
            at += size(table.fields[fid])
        inline = at
        n = max(table.fields, default=-1) + 1
        self.pad(2)
        vtable = len(self.buf)
        self.buf += struct.pack(f"<HH{n}H", 4 + 2 * n, inline, *(offsets.get(i, 0) for i in range(n)))
        self.pad(8)
        pos = len(self.buf)
        self.buf += struct.pack("<i", pos - vtable) + bytes(inline - 4)
        for fid, value in table.fields.items():
            if isinstance(value, S):
                struct.pack_into("<" + value.fmt, self.buf, pos + offsets[fid], value.value)
        for fid, value in table.fields.items():
            if not isinstance(value, S):
                slot = pos + offsets[fid]
                struct.pack_into("<I", self.buf, slot, self.write(value) - slot)
        return pos


def tensor(name: str, shape: list[int], dtype: int, buffer: int = 0, quant: tuple[float, int] | None = None) -> Tab:
    fields: dict[int, Any] = {0: Vec("i", shape), 1: S("b", dtype), 2: S("I", buffer), 3: Str(name)}
    if quant is not None:
        fields[4] = Tab({2: Vec("f", [quant[0]]), 3: Vec("q", [quant[1]])})
    return Tab(fields)


def operator(opcode_index: int, inputs: list[int], outputs: list[int], options_type: int, options: Tab) -> Tab:
    return Tab({0: S("I", opcode_index), 1: Vec("i", inputs), 2: Vec("i", outputs), 3: S("B", options_type), 4: options})


def model(
    tensors: list[Tab], inputs: list[int], outputs: list[int], operators: list[Tab], opcodes: list[int], buffers: list[bytes]
) -> bytes:
    """A complete one-subgraph model; buffers[0] must be b"" (the empty sentinel)."""
    codes = [Tab({0: S("b", c), 2: S("i", 1), 3: S("i", c)}) for c in opcodes]
    bufs = [Tab({0: Vec("B", list(b), align=16)}) if b else Tab() for b in buffers]
    subgraph = Tab({0: TabVec(tensors), 1: Vec("i", inputs), 2: Vec("i", outputs), 3: TabVec(operators), 4: Str("main")})
    root = Tab({0: S("I", 3), 1: TabVec(codes), 2: TabVec([subgraph]), 3: Str("camapp test model"), 4: TabVec(bufs)})
    writer = _Writer()
    struct.pack_into("<I", writer.buf, 0, writer.write(root))
    return bytes(writer.buf)


def image_to_image_model(size: int = 8) -> bytes:
    """A float32 [1, size, size, 3] image in, ADD(x, x) out with the same shape: a valid model
    that, like a segmentation or style-transfer network, outputs an image, not classes or boxes."""
    shape = [1, size, size, 3]
    return model(
        [tensor("image", shape, FLOAT32), tensor("doubled", shape, FLOAT32)],
        [0], [1], [operator(0, [0, 0], [1], ADD_OPTIONS, Tab())], [ADD], [b""],
    )


def reshape_classifier(height: int, width: int, dtype: int, quant: tuple[float, int] | None = None) -> bytes:
    """[1, H, W, 3] in, RESHAPE to [1, H*W*3] out: a "classifier" whose class scores are its own
    input tensor, so a test can check exactly what preprocessing wrote (class i = element i)."""
    n = height * width * 3
    shape_bytes = np.array([1, n], np.int32).tobytes()
    return model(
        [
            tensor("input", [1, height, width, 3], dtype, quant=quant),
            tensor("new_shape", [2], INT32, buffer=1),
            tensor("scores", [1, n], dtype, quant=quant),
        ],
        [0], [2], [operator(0, [0, 1], [2], RESHAPE_OPTIONS, Tab({0: Vec("i", [1, n])}))], [RESHAPE], [b"", shape_bytes],
    )


def constant_detector(outputs: list[tuple[str, np.ndarray]], input_shape: tuple[int, ...] = (1, 8, 8, 3)) -> bytes:
    """A uint8 image input and constant float32 outputs, named and ordered as given.

    It stands in for an SSD export whose output order differs from TF1's (a TF2 export names
    them StatefulPartitionedCall:N, scores first): the runtime returns exactly these tensors.
    """
    tensors = [tensor("images", list(input_shape), UINT8, quant=(1 / 128, 128))]
    buffers = [b""]
    for name, value in outputs:
        buffers.append(np.ascontiguousarray(value, np.float32).tobytes())
        tensors.append(tensor(name, list(value.shape), FLOAT32, buffer=len(buffers) - 1))
    return model(tensors, [0], list(range(1, len(outputs) + 1)), [], [], buffers)
