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

# Field id -> (name, kind). Kinds: a scalar struct format ("B", "i", "I", "Q", ...), "str",
# ("vec", element size), ("table", schema), ("tables", schema), ("union", type field id, {type: schema}).
# Ids and union type numbers follow tensorflow/lite/schema/schema.fbs (fields are only ever appended).
_Field = Any
_SCHEMA: dict[str, dict[int, tuple[str, _Field]]] = {
    "Model": {0: ("version", "I"), 1: ("operator_codes", ("tables", "OperatorCode")), 2: ("subgraphs", ("tables", "SubGraph")),
              3: ("description", "str"), 4: ("buffers", ("tables", "Buffer")), 5: ("metadata_buffer", ("vec", 4)),
              6: ("metadata", ("tables", "Metadata")), 7: ("signature_defs", ("tables", "SignatureDef"))},
    "OperatorCode": {0: ("deprecated_builtin_code", "b"), 1: ("custom_code", "str"), 2: ("version", "i"), 3: ("builtin_code", "i")},
    "SubGraph": {0: ("tensors", ("tables", "Tensor")), 1: ("inputs", ("vec", 4)), 2: ("outputs", ("vec", 4)),
                 3: ("operators", ("tables", "Operator")), 4: ("name", "str")},
    "Tensor": {0: ("shape", ("vec", 4)), 1: ("type", "b"), 2: ("buffer", "I"), 3: ("name", "str"),
               4: ("quantization", ("table", "QuantizationParameters")), 5: ("is_variable", "B"),
               6: ("sparsity", ("table", "SparsityParameters")), 7: ("shape_signature", ("vec", 4)), 8: ("has_rank", "B"),
               9: ("variant_tensors", ("tables", "VariantSubType"))},
    "QuantizationParameters": {0: ("min", ("vec", 4)), 1: ("max", ("vec", 4)), 2: ("scale", ("vec", 4)), 3: ("zero_point", ("vec", 8)),
                               4: ("details_type", "B"), 5: ("details", ("union", 4, {1: "CustomQuantization"})),
                               6: ("quantized_dimension", "i")},
    "CustomQuantization": {0: ("custom", ("vec", 1))},
    "SparsityParameters": {0: ("traversal_order", ("vec", 4)), 1: ("block_map", ("vec", 4)),
                           2: ("dim_metadata", ("tables", "DimensionMetadata"))},
    "DimensionMetadata": {0: ("format", "b"), 1: ("dense_size", "i"), 2: ("array_segments_type", "B"),
                          3: ("array_segments", ("union", 2, {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"})),
                          4: ("array_indices_type", "B"),
                          5: ("array_indices", ("union", 4, {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}))},
    "Int32Vector": {0: ("values", ("vec", 4))},
    "Uint16Vector": {0: ("values", ("vec", 2))},
    "Uint8Vector": {0: ("values", ("vec", 1))},
    "VariantSubType": {0: ("shape", ("vec", 4)), 1: ("type", "b"), 2: ("has_rank", "B")},
    "Operator": {0: ("opcode_index", "I"), 1: ("inputs", ("vec", 4)), 2: ("outputs", ("vec", 4)), 3: ("builtin_options_type", "B"),
                 4: ("builtin_options", ("union", 3, {3: "ConcatEmbeddingsOptions", 17: "ReshapeOptions", 30: "SqueezeOptions"})),
                 5: ("custom_options", ("vec", 1)), 6: ("custom_options_format", "b"), 7: ("mutating_variable_inputs", ("vec", 1)),
                 8: ("intermediates", ("vec", 4)), 9: ("large_custom_options_offset", "Q"), 10: ("large_custom_options_size", "Q"),
                 11: ("builtin_options_2_type", "B"), 12: ("builtin_options_2", ("union", 11, {}))},
    "ConcatEmbeddingsOptions": {0: ("num_channels", "i"), 1: ("num_columns_per_channel", ("vec", 4)),
                                2: ("embedding_dim_per_channel", ("vec", 4))},
    "ReshapeOptions": {0: ("new_shape", ("vec", 4))},
    "SqueezeOptions": {0: ("squeeze_dims", ("vec", 4))},
    "Buffer": {0: ("data", ("vec", 1)), 1: ("offset", "Q"), 2: ("size", "Q")},
    "Metadata": {0: ("name", "str"), 1: ("buffer", "I")},
    "SignatureDef": {0: ("inputs", ("tables", "TensorMap")), 1: ("outputs", ("tables", "TensorMap")), 2: ("signature_key", "str"),
                     3: ("deprecated_tag", "str"), 4: ("subgraph_index", "I")},
    "TensorMap": {0: ("name", "str"), 1: ("tensor_index", "I")},
    "options": {},  # an option table whose fields are not described: only the table itself is checked
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
            name, kind = fields.get(fid, (f"field {fid}", None))
            # A field newer than this schema: only its first byte is known to exist.
            size = 1 if kind is None else struct.calcsize("<" + kind) if isinstance(kind, str) and kind != "str" else 4
            if field_off + size > inline:
                raise _Damaged(f"{schema}.{name} lies outside its table at byte {pos}")
            at = pos + field_off
            what = f"{schema}.{name}"
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
                    self.table(self.offset(at, what), kind[2].get(utype, "options"))
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
