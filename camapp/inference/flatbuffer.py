"""A bounds check of a .tflite flatbuffer, done in Python before any runtime sees the bytes.

LiteRT verifies a model buffer itself, but tflite_runtime (2.14, the fallback for older Pi OS)
does not: it follows the offsets in a truncated or corrupted file straight out of the buffer and
the process dies with a segmentation fault instead of raising. check_tflite() walks every table,
vector and string the TFLite schema reaches from the root (model, operator codes, subgraphs,
tensors, quantisation, sparsity, operators, buffers, metadata, signatures) and checks that each
lies inside the file, and that buffers stored outside the flatbuffer (models over 2 GB) do too.

What it does not do: check alignment, decode the flexbuffer inside custom options, or look into
the fields of builtin-option tables other than the few that hold vectors (Reshape, Squeeze,
ConcatEmbeddings); for the other option tables only the table itself is bounds-checked. It is a
guard against damaged files (truncated downloads, the wrong file renamed), not a full verifier
against hand-crafted ones.
"""

from __future__ import annotations

import struct
from typing import Any

# Field kinds: a scalar struct format ("B", "i", "I", "Q", ...), "str", ("vec", element size),
# ("table", schema name), ("tables", schema name), ("union", type field id, {type: schema}).
_Field = Any
_SCHEMA: dict[str, dict[int, _Field]] = {
    "Model": {0: "I", 1: ("tables", "OperatorCode"), 2: ("tables", "SubGraph"), 3: "str", 4: ("tables", "Buffer"),
              5: ("vec", 4), 6: ("tables", "Metadata"), 7: ("tables", "SignatureDef")},
    "OperatorCode": {0: "b", 1: "str", 2: "i", 3: "i"},
    "SubGraph": {0: ("tables", "Tensor"), 1: ("vec", 4), 2: ("vec", 4), 3: ("tables", "Operator"), 4: "str"},
    "Tensor": {0: ("vec", 4), 1: "b", 2: "I", 3: "str", 4: ("table", "QuantizationParameters"), 5: "B",
               6: ("table", "SparsityParameters"), 7: ("vec", 4), 8: "B", 9: ("tables", "VariantSubType")},
    "QuantizationParameters": {0: ("vec", 4), 1: ("vec", 4), 2: ("vec", 4), 3: ("vec", 8), 4: "B",
                               5: ("union", 4, {1: "CustomQuantization"}), 6: "i"},
    "CustomQuantization": {0: ("vec", 1)},
    "SparsityParameters": {0: ("vec", 4), 1: ("vec", 4), 2: ("tables", "DimensionMetadata")},
    "DimensionMetadata": {0: "b", 1: "i", 2: "B", 3: ("union", 2, {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}),
                          4: "B", 5: ("union", 4, {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"})},
    "Int32Vector": {0: ("vec", 4)},
    "Uint16Vector": {0: ("vec", 2)},
    "Uint8Vector": {0: ("vec", 1)},
    "VariantSubType": {0: ("vec", 4), 1: "b", 2: "B"},
    "Operator": {0: "I", 1: ("vec", 4), 2: ("vec", 4), 3: "B",
                 4: ("union", 3, {3: "ConcatEmbeddingsOptions", 17: "ReshapeOptions", 30: "SqueezeOptions"}),
                 5: ("vec", 1), 6: "b", 7: ("vec", 1), 8: ("vec", 4), 9: "Q", 10: "Q", 11: "B", 12: ("union", 11, {})},
    "ConcatEmbeddingsOptions": {0: "i", 1: ("vec", 4), 2: ("vec", 4)},
    "ReshapeOptions": {0: ("vec", 4)},
    "SqueezeOptions": {0: ("vec", 4)},
    "Buffer": {0: ("vec", 1), 1: "Q", 2: "Q"},
    "Metadata": {0: "str", 1: "I"},
    "SignatureDef": {0: ("tables", "TensorMap"), 1: ("tables", "TensorMap"), 2: "str", 3: "str", 4: "I"},
    "TensorMap": {0: "str", 1: "I"},
    "": {},  # an option table whose fields are not described: only the table itself is checked
}


class _Damaged(Exception):
    pass


class _Walker:
    def __init__(self, content: bytes) -> None:
        self.buf = memoryview(content)
        self.size = len(content)

    def need(self, pos: int, length: int, what: str) -> None:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise _Damaged(f"{what} at byte {pos} runs past the end of the file ({self.size} bytes)")

    def read(self, fmt: str, pos: int, what: str) -> Any:
        self.need(pos, struct.calcsize("<" + fmt), what)
        return struct.unpack_from("<" + fmt, self.buf, pos)[0]

    def offset(self, pos: int, what: str) -> int:
        return pos + int(self.read("I", pos, what))

    def vector(self, pos: int, elem_size: int, what: str) -> tuple[int, int]:
        """(start of the elements, element count) of the vector referenced from pos."""
        vec = self.offset(pos, what)
        count = int(self.read("I", vec, what))
        self.need(vec + 4, count * elem_size, what)
        return vec + 4, count

    def table(self, pos: int, schema: str) -> dict[int, Any]:
        """Check the table at pos and everything under it; return its scalar fields by id."""
        vtable = pos - int(self.read("i", pos, schema))
        vt_size = int(self.read("H", vtable, f"{schema} vtable"))
        inline = int(self.read("H", vtable + 2, f"{schema} vtable"))
        if vt_size < 4 or vt_size % 2:
            raise _Damaged(f"{schema} vtable at byte {vtable} has an impossible size {vt_size}")
        self.need(vtable, vt_size, f"{schema} vtable")
        self.need(pos, max(inline, 4), schema)
        fields = _SCHEMA[schema]
        slots = {i: int(self.read("H", vtable + 4 + 2 * i, schema)) for i in range((vt_size - 4) // 2)}
        values: dict[int, Any] = {}
        for fid, field_off in slots.items():
            if field_off == 0:
                continue
            kind = fields.get(fid)
            if kind is None:
                size = 1  # a field newer than this schema: only its first byte is known to exist
            else:
                size = struct.calcsize("<" + kind) if isinstance(kind, str) and kind != "str" else 4
            if field_off + size > inline:
                raise _Damaged(f"{schema} field {fid} lies outside its table at byte {pos}")
            at = pos + field_off
            what = f"{schema} field {fid}"
            if kind is None:
                continue  # inside the table, but not followed
            if kind == "str":
                start, count = self.vector(at, 1, what)
                self.need(start, count + 1, what)  # the terminating zero byte
            elif isinstance(kind, str):
                values[fid] = self.read(kind, at, what)
            elif kind[0] == "vec":
                values[fid] = self.vector(at, kind[1], what)
            elif kind[0] == "table":
                self.table(self.offset(at, what), kind[1])
            elif kind[0] == "tables":
                start, count = self.vector(at, 4, what)
                for i in range(count):
                    self.table(self.offset(start + 4 * i, what), kind[1])
            elif kind[0] == "union":
                utype = values.get(kind[1], 0)
                if utype:
                    self.table(self.offset(at, what), kind[2].get(utype, ""))
        return values


def check_tflite(content: bytes) -> str | None:
    """None when every part of the model lies inside the file, else what is out of place."""
    walker = _Walker(content)
    try:
        model = walker.table(walker.offset(0, "root table offset"), "Model")
        buffers = model.get(4)
        if buffers is not None:
            start, count = buffers
            for i in range(count):
                values = walker.table(walker.offset(start + 4 * i, "buffer"), "Buffer")
                offset, size = values.get(1, 0), values.get(2, 0)
                if offset > 1:  # data kept after the flatbuffer, addressed from the file start
                    walker.need(offset, size, f"buffer {i} data")
    except _Damaged as exc:
        return str(exc)
    return None
