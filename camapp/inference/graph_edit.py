"""Model surgery for `camapp teach`: cut a classifier at its pre-logits tensor, and export a new classifier.

cut_at_prelogits() makes the interpreter output the embedding (the pooled features the logits layer
reads) by editing the flatbuffer bytes in place: the subgraph's one output index is replaced by the
pre-logits tensor's index, and the operator vector's length is shortened so the old logits layer and
softmax are not run. Nothing is re-serialised, so no schema library is needed and it works with
tflite_runtime alone; every byte the backbone's ops use stays where it was, so the runtime and
XNNPACK see the same backbone graph as in the full model.

export_classifier() does need to write a new flatbuffer (new ops, tensors and weights): it uses
the TFLite schema that ai-edge-litert ships (schema_py_generated, object API). The file it writes
is an ordinary classifier any LiteRT or tflite_runtime program loads: the backbone's input,
then DEQUANTIZE -> RESHAPE [1, D] -> L2_NORMALIZATION -> FULLY_CONNECTED -> SOFTMAX, with the
labels in a zip appended to the flatbuffer (the TFLite metadata convention) and a TFLITE_METADATA
entry that names them.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from camapp.errors import ModelError
from camapp.inference import runtime
from camapp.inference.flatbuffer import check_tflite

# BuiltinOperator numbers (tensorflow/lite/schema/schema.fbs; never renumbered).
_CONV_2D, _DEQUANTIZE, _FULLY_CONNECTED, _L2_NORMALIZATION, _LOGISTIC = 3, 6, 9, 11, 14
_RESHAPE, _SOFTMAX, _CUSTOM, _SQUEEZE, _QUANTIZE = 22, 25, 32, 43, 114
# What may follow the logits layer: reshapes, the softmax (or a sigmoid), (de)quantisation.
_AFTER_LOGITS = {_RESHAPE, _SQUEEZE, _SOFTMAX, _LOGISTIC, _DEQUANTIZE, _QUANTIZE}
_WALK_LIMIT = 8  # tail ops to walk back through before giving up

# TensorType numbers -> the dtypes an embedding can have.
_FLOAT32, _UINT8, _INT8 = 0, 3, 9
_DTYPES = {_FLOAT32: "float32", _UINT8: "uint8", _INT8: "int8"}

_HINT = "teach needs an image classifier whose last layer is a fully connected or 1x1 convolution layer, e.g. a MobileNet"


@dataclass(frozen=True)
class EmbeddingCut:
    """A classifier cut at its pre-logits tensor: load model_content, read output 0, dequantise()."""

    model_content: bytes  # the edited model: runtime Interpreter(model_content=...)
    tensor_index: int  # the embedding's tensor (the interpreter's only output)
    tensor_name: str
    width: int
    dtype: str  # "uint8", "int8" or "float32"
    scale: float  # 0.0 / 0 when the tensor is float
    zero_point: int
    dropped_ops: int  # ops after the cut that no longer run (the logits layer, softmax, ...)

    def dequantize(self, raw: NDArray[Any]) -> NDArray[np.float32]:
        """The embedding as float32: (q - zero_point) * scale, or the values as they are."""
        flat = raw.reshape(-1)
        if self.scale:
            return ((flat.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)).astype(np.float32)
        return flat.astype(np.float32, copy=True)


# -- reading: a few schema fields, by field id, without a flatbuffers library --------------------


class _Table:
    """One flatbuffer table. The file was bounds-checked by check_tflite() first."""

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vt_size = struct.unpack_from("<H", buf, self.vtable)[0]

    def field(self, fid: int) -> int:
        """Absolute position of a field, or 0 when absent (the schema default applies)."""
        slot = 4 + 2 * fid
        if slot >= self.vt_size:
            return 0
        off = struct.unpack_from("<H", self.buf, self.vtable + slot)[0]
        return self.pos + off if off else 0

    def scalar(self, fid: int, fmt: str, default: int | float = 0) -> Any:
        at = self.field(fid)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def vector(self, fid: int) -> tuple[int, int]:
        """(position of the first element, count); (0, 0) when absent."""
        at = self.field(fid)
        if not at:
            return 0, 0
        vec = at + struct.unpack_from("<I", self.buf, at)[0]
        return vec + 4, struct.unpack_from("<I", self.buf, vec)[0]

    def numbers(self, fid: int, fmt: str) -> list[Any]:
        start, count = self.vector(fid)
        return list(struct.unpack_from(f"<{count}{fmt}", self.buf, start)) if count else []

    def tables(self, fid: int) -> list[_Table]:
        start, count = self.vector(fid)
        return [_Table(self.buf, p + struct.unpack_from("<I", self.buf, p)[0]) for p in range(start, start + 4 * count, 4)]

    def table(self, fid: int) -> _Table | None:
        at = self.field(fid)
        return _Table(self.buf, at + struct.unpack_from("<I", self.buf, at)[0]) if at else None

    def string(self, fid: int) -> str:
        start, count = self.vector(fid)
        return self.buf[start:start + count].decode("utf-8", "replace")


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    type: int
    constant: bool  # backed by a buffer with data (weights), not an activation
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]


@dataclass(frozen=True)
class _Op:
    code: int  # BuiltinOperator, CUSTOM for custom ops
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class _Graph:
    """Subgraph 0, plus where its output vector and operator count lie in the file."""

    tensors: tuple[_Tensor, ...]
    ops: tuple[_Op, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    outputs_at: int  # first element of SubGraph.outputs
    ops_count_at: int  # the length word of SubGraph.operators
    signature_outputs: tuple[int, ...]  # positions of TensorMap.tensor_index fields of signature outputs


def _read_graph(content: bytes, origin: str) -> _Graph:
    problem = check_tflite(content)
    if problem is not None:
        raise ModelError(f"'{origin}' is not a valid TFLite model (damaged or truncated: {problem})", "download the .tflite file again")
    buf = bytes(content)
    model = _Table(buf, struct.unpack_from("<I", buf, 0)[0])
    codes = []
    for oc in model.tables(1):
        # builtin_code (field 3) replaced the int8 deprecated_builtin_code (field 0) at 127 ops;
        # converters write both, readers take the larger.
        codes.append(max(int(oc.scalar(0, "b", 0)), int(oc.scalar(3, "i", 0))))
    has_data = [b.vector(0)[1] > 0 or int(b.scalar(2, "Q", 0)) > 0 for b in model.tables(4)]
    subgraphs = model.tables(2)
    if not subgraphs:
        raise ModelError(f"'{origin}' has no subgraph", "download the .tflite file again")
    sg = subgraphs[0]
    tensors = []
    for t in sg.tables(0):
        q = t.table(4)
        buffer = int(t.scalar(2, "I", 0))
        tensors.append(_Tensor(
            t.string(3), tuple(t.numbers(0, "i")), int(t.scalar(1, "b", 0)), 0 < buffer < len(has_data) and has_data[buffer],
            tuple(q.numbers(2, "f")) if q else (), tuple(q.numbers(3, "q")) if q else (),
        ))
    ops = []
    for op in sg.tables(3):
        index = int(op.scalar(0, "I", 0))
        ops.append(_Op(codes[index] if index < len(codes) else _CUSTOM, tuple(op.numbers(1, "i")), tuple(op.numbers(2, "i"))))
    outputs_at, _ = sg.vector(2)
    ops_start, _ = sg.vector(3)
    sig_outputs = []
    for sig in model.tables(7):
        if int(sig.scalar(4, "I", 0)) == 0:
            sig_outputs += [tm.field(1) for tm in sig.tables(1)]
    return _Graph(tuple(tensors), tuple(ops), tuple(sg.numbers(1, "i")), tuple(sg.numbers(2, "i")),
                  outputs_at, ops_start - 4 if ops_start else 0, tuple(sig_outputs))


# -- finding the pre-logits tensor ----------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    tensor: int  # the pre-logits tensor
    keep: int  # ops[:keep] compute it; ops[keep:] are the logits layer and what follows it


def _is_logits_layer(graph: _Graph, op: _Op) -> bool:
    """A FULLY_CONNECTED, or a CONV_2D that is one in disguise (1x1 kernel on a 1x1 input), with constant weights."""
    if op.code not in (_FULLY_CONNECTED, _CONV_2D) or len(op.inputs) < 2 or min(op.inputs[:2]) < 0:
        return False
    x, w = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    if not w.constant or not x.shape:
        return False
    if op.code == _CONV_2D:
        return len(w.shape) == 4 and w.shape[1:3] == (1, 1) and len(x.shape) == 4 and x.shape[1:3] == (1, 1)
    return len(w.shape) == 2 and w.shape[1] == x.shape[-1]


def _find_prelogits(graph: _Graph, origin: str) -> _Cut:
    def refuse(why: str) -> ModelError:
        return ModelError(f"'{origin}' has no pre-logits tensor to cut at ({why})", _HINT)

    if len(graph.outputs) != 1:
        raise refuse(f"it has {len(graph.outputs)} outputs, a classifier has one")
    producer = {t: i for i, op in enumerate(graph.ops) for t in op.outputs}
    tensor = graph.outputs[0]
    for _ in range(_WALK_LIMIT):
        index = producer.get(tensor)
        if index is None:
            raise refuse(f"no layer before the output '{graph.tensors[tensor].name}'")
        op = graph.ops[index]
        if _is_logits_layer(graph, op):
            tensor = op.inputs[0]
            break
        if op.code not in _AFTER_LOGITS or not op.inputs:
            raise refuse("the output does not come from a fully connected or 1x1 convolution layer")
        tensor = op.inputs[0]
    else:
        raise refuse("no fully connected or 1x1 convolution layer near the output")
    t = graph.tensors[tensor]
    width = t.shape[-1] if t.shape else 0
    if int(np.prod(t.shape)) != width or width < 2:
        raise refuse(f"the logits layer reads '{t.name}' of shape {list(t.shape)}, not one vector")
    if t.type not in _DTYPES:
        raise refuse(f"the pre-logits tensor '{t.name}' has tensor type {t.type}")
    if len(t.scales) > 1:
        raise refuse(f"the pre-logits tensor '{t.name}' is quantised per channel")
    # The runtime runs the operator vector in order, which is a topological order: everything the
    # pre-logits tensor depends on comes before the op that makes it, so the ops after that one
    # (the logits layer and what follows it, in every converter's output) can all be dropped.
    keep = producer.get(tensor, -1) + 1
    if keep == 0:
        raise refuse(f"the logits layer reads the model's input '{t.name}'")
    return _Cut(tensor, keep)


def cut_at_prelogits(model_content: bytes, origin: str = "model") -> EmbeddingCut:
    """The classifier with its pre-logits tensor as the only output, edited in place (no schema needed).

    Raises ModelError when the model is not a classifier ending in a logits layer (a detector, ...).
    """
    graph = _read_graph(model_content, origin)
    cut = _find_prelogits(graph, origin)
    if graph.outputs_at == 0 or graph.ops_count_at == 0:
        raise ModelError(f"'{origin}' cannot be cut in place (its output or operator list is missing)", _HINT)
    edited = bytearray(model_content)
    old_output = graph.outputs[0]
    struct.pack_into("<i", edited, graph.outputs_at, cut.tensor)
    struct.pack_into("<I", edited, graph.ops_count_at, cut.keep)
    # A signature that named the old output would name a tensor nothing computes any more.
    for at in graph.signature_outputs:
        if at and struct.unpack_from("<I", edited, at)[0] == old_output:
            struct.pack_into("<I", edited, at, cut.tensor)
    t = graph.tensors[cut.tensor]
    scale = float(t.scales[0]) if t.scales and t.type != _FLOAT32 else 0.0
    zero_point = int(t.zero_points[0]) if scale and t.zero_points else 0
    return EmbeddingCut(bytes(edited), cut.tensor, t.name, t.shape[-1], _DTYPES[t.type], scale, zero_point, len(graph.ops) - cut.keep)


# -- export: backbone + head as one ordinary classifier ------------------------------------------

# Minimum runtime per op version (tensorflow/lite/tools/versioning/runtime_version.cc), for the
# "min_runtime_version" metadata entry.
_MIN_RUNTIME = {(_DEQUANTIZE, 1): "1.13.1", (_DEQUANTIZE, 2): "1.14.0", (_RESHAPE, 1): "1.5.0",
                (_L2_NORMALIZATION, 1): "1.5.0", (_FULLY_CONNECTED, 1): "1.5.0", (_SOFTMAX, 1): "1.5.0"}
_LABELS_FILE = "labels.txt"
_OUTPUT_NAME = "probabilities"


def _schema() -> tuple[Any, Any]:
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as fb
    except ImportError as exc:
        raise ModelError(
            f"writing a .tflite file needs the TFLite schema that ai-edge-litert ships ({exc})",
            "pip install ai-edge-litert (the exported model then runs under tflite_runtime too)",
        ) from exc
    return fb, flatbuffers


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".") if p.isdigit())


def export_classifier(model_content: bytes, weights: NDArray[np.float32], bias: NDArray[np.float32], labels: list[str],
                      description: str = "", origin: str = "model") -> bytes:
    """One standalone .tflite: the backbone cut at its pre-logits tensor + a cosine-style head.

    The output is [1, K] float32 probabilities, softmax(weights . l2norm(embedding) + bias), with
    weights [K, D] and bias [K]; the K labels travel in the file. Needs ai-edge-litert (its schema).
    """
    fb, flatbuffers = _schema()
    graph = _read_graph(model_content, origin)
    cut = _find_prelogits(graph, origin)
    width = graph.tensors[cut.tensor].shape[-1]
    weights = np.ascontiguousarray(weights, np.float32)
    bias = np.ascontiguousarray(bias, np.float32)
    if weights.shape != (len(labels), width) or bias.shape != (len(labels),):
        raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(labels)} labels on a {width}-wide embedding")
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(bias))):
        raise ValueError("weights and bias must be finite")
    for label in labels:
        if not label.strip() or "\n" in label or "\r" in label:
            raise ModelError(f"label {label!r} cannot be one line of a labels file", "rename the class")

    model = fb.ModelT.InitFromPackedBuf(bytearray(model_content), 0)
    if any(b.offset > 1 for b in model.buffers or []) or getattr(model, "externalBuffers", None):
        raise ModelError(f"'{origin}' keeps its weights outside the flatbuffer", "export needs a backbone stored in one file, under 2 GB")
    if len(model.subgraphs) != 1:
        raise ModelError(f"'{origin}' has {len(model.subgraphs)} subgraphs", "export needs a backbone with one, as MobileNets have")
    model.subgraphs[0].operators = model.subgraphs[0].operators[:cut.keep]  # the old logits layer and what follows it
    head_ops = _add_head(fb, model, cut.tensor, graph.tensors[cut.tensor], weights, bias)
    _drop_unused(fb, model)
    _update_metadata(fb, model, head_ops, _metadata_flatbuffer(flatbuffers, model, description))
    if description:
        model.description = description.encode()
    model.version = 3

    builder = _aligned_builder(flatbuffers, len(model_content) + weights.nbytes + 65536)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    out = io.BytesIO(bytes(builder.Output()))
    out.seek(0, io.SEEK_END)
    # Associated files are a zip appended to the flatbuffer; opening the bytes in append mode
    # writes the archive after them with offsets counted from the start of the file, as the
    # TFLite metadata populator does, so zip tools and camapp's labels_from_metadata read it.
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr(_LABELS_FILE, "".join(label + "\n" for label in labels))
    content = out.getvalue()
    _check_loads(content, origin)
    return content


def _add_head(fb: Any, model: Any, x: int, emb: _Tensor, weights: NDArray[np.float32], bias: NDArray[np.float32]) -> list[tuple[int, int]]:
    """Append (DEQUANTIZE) -> (RESHAPE [1, D]) -> L2_NORMALIZATION -> FULLY_CONNECTED -> SOFTMAX
    after tensor x and make its result the only output; returns the (op, version) pairs added.
    Every op is at the version 1 of its float kernel (DEQUANTIZE from int8 is 2), which every
    runtime since TF Lite 1.14 has, tflite_runtime 2.14 included."""
    sg = model.subgraphs[0]
    k, width = weights.shape
    added: list[tuple[int, int]] = []

    def tensor(name: str, shape: list[int], ttype: int = _FLOAT32, data: NDArray[Any] | None = None) -> int:
        t = fb.TensorT()
        t.name, t.shape, t.type = name.encode(), np.array(shape, np.int32), ttype
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
            model.buffers.append(buf)
            t.buffer = len(model.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    def op(code: int, version: int, inputs: list[int], outputs: list[int], options_type: int, options: Any) -> None:
        codes = model.operatorCodes
        same = (i for i, oc in enumerate(codes) if max(oc.builtinCode, oc.deprecatedBuiltinCode) == code and oc.version == version)
        index = next(same, -1)
        if index < 0:
            oc = fb.OperatorCodeT()
            # deprecated_builtin_code is what runtimes before 2.4 read; codes under 127 go in both.
            oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = code, min(code, 127), version
            codes.append(oc)
            index = len(codes) - 1
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = index, np.array(inputs, np.int32), np.array(outputs, np.int32)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        sg.operators.append(o)
        added.append((code, version))

    if emb.type != _FLOAT32:
        y = tensor("camapp_head/embedding", list(emb.shape))
        op(_DEQUANTIZE, 2 if emb.type == _INT8 else 1, [x], [y], fb.BuiltinOptions.DequantizeOptions, fb.DequantizeOptionsT())
        x = y
    if list(emb.shape) != [1, width]:
        y = tensor("camapp_head/flatten", [1, width])
        shape = tensor("camapp_head/flatten_shape", [2], 2, np.array([1, width], np.int32))  # TensorType.INT32
        options = fb.ReshapeOptionsT()
        options.newShape = np.array([1, width], np.int32)
        op(_RESHAPE, 1, [x, shape], [y], fb.BuiltinOptions.ReshapeOptions, options)
        x = y
    normalised = tensor("camapp_head/l2_normalize", [1, width])
    op(_L2_NORMALIZATION, 1, [x], [normalised], fb.BuiltinOptions.L2NormOptions, fb.L2NormOptionsT())
    w = tensor("camapp_head/weights", [k, width], data=weights)
    b = tensor("camapp_head/bias", [k], data=bias)
    logits = tensor("camapp_head/logits", [1, k])
    op(_FULLY_CONNECTED, 1, [normalised, w, b], [logits], fb.BuiltinOptions.FullyConnectedOptions, fb.FullyConnectedOptionsT())
    probabilities = tensor(_OUTPUT_NAME, [1, k])
    softmax = fb.SoftmaxOptionsT()
    softmax.beta = 1.0
    op(_SOFTMAX, 1, [logits], [probabilities], fb.BuiltinOptions.SoftmaxOptions, softmax)
    sg.outputs = np.array([probabilities], np.int32)
    return added


def _drop_unused(fb: Any, model: Any) -> None:
    """Drop the ops the output does not depend on, then the tensors and operator codes nothing
    refers to any more, renumbering what is left."""
    sg = model.subgraphs[0]
    # Walk back from the output (the old logits layer is already gone; this also drops anything
    # else only it used, such as its shape constants).
    needed = {int(t) for t in sg.outputs}
    kept = []
    for op in reversed(sg.operators):
        if any(int(t) in needed for t in op.outputs):
            kept.append(op)
            needed.update(int(t) for t in op.inputs if t >= 0)
    sg.operators = kept[::-1]

    used = {int(t) for t in sg.inputs} | {int(t) for t in sg.outputs}
    for op in sg.operators:
        for seq in (op.inputs, op.outputs, op.intermediates):
            used.update(int(t) for t in (seq if seq is not None else []) if t >= 0)
    order = sorted(used)
    remap = {old: new for new, old in enumerate(order)}

    def renumber(seq: Any) -> Any:
        return None if seq is None else np.array([remap[int(t)] if t >= 0 else -1 for t in seq], np.int32)

    sg.tensors = [sg.tensors[i] for i in order]
    sg.inputs, sg.outputs = renumber(sg.inputs), renumber(sg.outputs)
    for op in sg.operators:
        op.inputs, op.outputs, op.intermediates = renumber(op.inputs), renumber(op.outputs), renumber(op.intermediates)
    # A signature keeps its inputs; its outputs become the one new output (under the old name
    # when there was one, so a program that asked for it by name still finds it).
    for sig in model.signatureDefs or []:
        for tm in sig.inputs or []:
            tm.tensorIndex = remap.get(tm.tensorIndex, 0)
        out = fb.TensorMapT()
        out.name = sig.outputs[0].name if sig.outputs and len(sig.outputs) == 1 else _OUTPUT_NAME.encode()
        out.tensorIndex = int(sg.outputs[0])
        sig.outputs = [out]

    codes_used = sorted({op.opcodeIndex for op in sg.operators})
    code_map = {old: new for new, old in enumerate(codes_used)}
    model.operatorCodes = [model.operatorCodes[i] for i in codes_used]
    for op in sg.operators:
        op.opcodeIndex = code_map[op.opcodeIndex]


def _update_metadata(fb: Any, model: Any, head_ops: list[tuple[int, int]], tflite_metadata: bytes) -> None:
    """Rebuild the buffer list (0 stays the empty buffer; the weights the tensors use follow) and
    the metadata entries that point into it.

    The old TFLITE_METADATA describes the old 1001-class output and its label file, so ours
    replaces it. min_runtime_version, when the backbone has one, is raised to cover the head's
    ops; without one nothing is added (the head's versions say nothing about the backbone's).
    Other entries (conversion notes) are kept.
    """
    head_runtime = max((_MIN_RUNTIME.get(key, "1.5.0") for key in head_ops), key=_version_key)
    entries: list[tuple[bytes, NDArray[np.uint8]]] = []
    for m in model.metadata or []:
        name = m.name if isinstance(m.name, bytes) else str(m.name).encode()
        data = model.buffers[m.buffer].data if 0 <= m.buffer < len(model.buffers) else None
        raw = np.zeros(0, np.uint8) if data is None else np.asarray(data, np.uint8)
        if name == b"TFLITE_METADATA":
            continue
        if name == b"min_runtime_version":
            old = raw.tobytes().split(b"\0", 1)[0].decode("ascii", "replace")
            newest = max(head_runtime, old, key=_version_key) if _version_key(old) else head_runtime
            raw = np.frombuffer(newest.encode().ljust(16, b"\0"), np.uint8)  # NUL-padded to 16, as converters write it
        entries.append((name, raw))
    entries.append((b"TFLITE_METADATA", np.frombuffer(tflite_metadata, np.uint8)))

    old_buffers = model.buffers
    buffers = [fb.BufferT()]
    moved: dict[int, int] = {}  # old index -> new (tensors may share a buffer)
    for t in model.subgraphs[0].tensors:
        data = old_buffers[t.buffer].data if 0 < t.buffer < len(old_buffers) else None
        if data is None or len(data) == 0:
            t.buffer = 0  # activations: no data of their own
            continue
        if t.buffer not in moved:
            buffers.append(old_buffers[t.buffer])
            moved[t.buffer] = len(buffers) - 1
        t.buffer = moved[t.buffer]
    model.metadata = []
    for name, raw in entries:
        buf = fb.BufferT()
        buf.data = raw
        buffers.append(buf)
        m = fb.MetadataT()
        m.name, m.buffer = name, len(buffers) - 1
        model.metadata.append(m)
    model.buffers = buffers
    model.metadataBuffer = None  # deprecated, and its indices were into the old buffer list


def _metadata_flatbuffer(flatbuffers: Any, model: Any, description: str) -> bytes:
    """A TFLite ModelMetadata ("M001", tensorflow_lite_support/metadata/metadata_schema.fbs) like
    the ones the zoo's classifiers carry: the input is an RGB image, the output's axis is labelled
    by labels.txt. Written field by field (ids from the .fbs) because the metadata schema module
    is not installed with LiteRT."""
    sg = model.subgraphs[0]
    q = sg.tensors[int(sg.inputs[0])].quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) == 1 else 0.0
    zero_point = int(q.zeroPoint[0]) if scale and q.zeroPoint is not None and len(q.zeroPoint) == 1 else 0
    b = flatbuffers.Builder(1024)

    def table(fields: list[tuple[int, str, Any]]) -> int:
        # What a table refers to (strings, vectors, tables) is written before the table itself.
        b.StartObject(8)
        for fid, kind, value in fields:
            {"offset": b.PrependUOffsetTRelativeSlot, "byte": b.PrependInt8Slot, "ubyte": b.PrependUint8Slot}[kind](fid, value, 0)
        return int(b.EndObject())

    def tables(items: list[int]) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            b.PrependUOffsetTRelative(item)
        return int(b.EndVector())

    def text(value: str) -> tuple[int, str, Any]:
        return 0, "offset", b.CreateString(value)

    # Output: one probability per line of labels.txt (AssociatedFileType.TENSOR_AXIS_LABELS = 2).
    label_file = table([text(_LABELS_FILE), (1, "offset", b.CreateString("one label per output")), (2, "byte", 2)])
    feature = table([(0, "ubyte", 1), (1, "offset", table([]))])  # Content: ContentProperties.FeatureProperties
    output = table([text("probability"), (1, "offset", b.CreateString("probabilities of the labels")),
                    (3, "offset", feature), (6, "offset", tables([label_file]))])
    # Input: an RGB image (ImageProperties = 2, ColorSpaceType.RGB = 1) and, when it is quantised,
    # the normalisation its quantisation performs: real = (q - zero_point) * scale = (q - mean) / std.
    image_content = table([(0, "ubyte", 2), (1, "offset", table([(0, "byte", 1)]))])
    fields = [text("image"), (1, "offset", b.CreateString("input image")), (3, "offset", image_content)]
    if scale:
        mean = b.CreateNumpyVector(np.array([zero_point], np.float32))
        std = b.CreateNumpyVector(np.array([1.0 / scale], np.float32))
        normalization = table([(0, "offset", mean), (1, "offset", std)])
        fields.append((4, "offset", tables([table([(0, "ubyte", 1), (1, "offset", normalization)])])))  # ProcessUnit: NormalizationOptions
    image = table(fields)
    subgraph = table([(2, "offset", tables([image])), (3, "offset", tables([output]))])
    root = table([text("camapp taught classifier"), (1, "offset", b.CreateString(description)),
                  (3, "offset", tables([subgraph])), (7, "offset", b.CreateString("1.0.0"))])
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def _check_loads(content: bytes, origin: str) -> None:
    """Load the new file once (tens of ms), so a file the runtime refuses is never written."""
    name, interpreter_cls = runtime.interpreter_class()
    try:
        interpreter_cls(model_content=content).allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{name} cannot load the classifier exported from '{origin}' ({first})",
                         "this is a camapp bug: please report it with the backbone file") from exc


def _aligned_builder(flatbuffers: Any, size: int) -> Any:
    """A flatbuffers.Builder that aligns byte vectors to 16 bytes. The schema asks it of
    Buffer.data (force_align: 16), but the generated object API writes numpy vectors with their
    dtype's alignment, 1 for bytes; aligned weights let runtimes use them in place."""
    plain = flatbuffers.Builder.CreateNumpyVector

    def create_numpy_vector(self: Any, x: NDArray[Any]) -> int:
        if x.dtype != np.uint8:
            return int(plain(self, x))
        self.StartVector(1, x.size, 16)
        self.head -= x.size
        self.Bytes[self.head:self.head + x.size] = x.tobytes()
        self.vectorNumElems = x.size
        return int(self.EndVector())

    # Builder has __slots__, so the method is replaced in a subclass (what the object API's Pack calls).
    return type("AlignedBuilder", (flatbuffers.Builder,), {"CreateNumpyVector": create_numpy_vector})(size)
