"""Model surgery for `camapp teach` (camapp.inference.graph_edit) on the real shared classifiers.

The cut: every classifier is cut in memory at its pre-logits tensor, and the cut model outputs
exactly the tensor the full model's logits layer reads, with the full model's input and delegate.
The export: the cut backbone + L2-normalise + fully connected + softmax is one ordinary classifier
file that camapp, and any LiteRT program, runs like any other, with its labels inside.

Run under both runtimes (the ai-edge-litert venv, and CAMAPP_RUNTIME=tflite_runtime bash
scripts/test ...). The cut needs no schema library, so it is tested in both. Writing a file needs
ai-edge-litert's schema: where it is missing (tflite_runtime alone), the exported files are written
by the ai-edge-litert venv in a subprocess (write_export below) and loaded and run here, which is
the deployment this supports: a model taught with LiteRT, run on an older Pi OS with tflite_runtime.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from camapp.errors import ModelError
from camapp.frames import Frame
from camapp.inference import runtime
from camapp.inference.graph_edit import EmbeddingCut, _Table, cut_at_prelogits, export_classifier
from camapp.inference.labels import labels_from_metadata
from camapp.inference.model import Model, ModelOptions
from tests.commands.conftest import run_camapp
from tests.conftest import REPO, require

from . import tflite_builder as tb
from .conftest import CLASSIFIERS, DETECTOR

# What the cut finds in each shared classifier: (part of the pre-logits tensor's name, width, dtype).
PRELOGITS = {
    "mobilenet_v1_0.25_128_quant.tflite": ("MobilenetV1/Logits/AvgPool_1a/AvgPool", 256, "uint8"),
    "mobilenet_v1_0.5_160_quant.tflite": ("MobilenetV1/Logits/AvgPool_1a/AvgPool", 512, "uint8"),
    "mobilenet_v1_0.75_192_quant.tflite": ("MobilenetV1/Logits/AvgPool_1a/AvgPool", 768, "uint8"),
    "mobilenet_v2_1.0_224_quant.tflite": ("MobilenetV2/Logits/AvgPool", 1280, "uint8"),
    "mobilenet_v2_1.0_224_quantized_1_default_1.tflite": ("MobilenetV2/Logits/AvgPool", 1280, "uint8"),
    "tf2_mobilenet_v2_1.0_224_ptq.tflite": ("MobileNetV2/top/GlobalPool/Mean", 1280, "int8"),  # int8 inside, uint8 I/O
    "v3-small_224_1.0_uint8.tflite": ("MobilenetV3/Logits/AvgPool", 1024, "uint8"),
}
LOGITS_MODEL = "mobilenet_v2_1.0_224_quantized_1_default_1.tflite"  # outputs its logits: no softmax after the layer
# Three taught classes, two shared images each; the head is their normalised class means.
CLASSES = {"birds": ("parrot.jpg", "bird.bmp"), "pets": ("cat.bmp", "pets.jpg"), "things": ("hot_dog.jpg", "table.jpg")}
EXPORT_BACKBONES = ("mobilenet_v1_0.75_192_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite")  # uint8 and int8 embeddings
HAVE_SCHEMA = all(importlib.util.find_spec(m) is not None for m in ("ai_edge_litert", "flatbuffers"))
needs_schema = pytest.mark.skipif(not HAVE_SCHEMA, reason="writing a .tflite needs ai-edge-litert's schema (tflite_runtime-only venv)")


def interpreter(content: bytes, delegates: bool = True, **options: Any) -> Any:
    cls = runtime.interpreter_class()[1]
    if not delegates:  # the reference kernels, as the runtime runs a model without XNNPACK
        options["experimental_op_resolver_type"] = sys.modules[cls.__module__].OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    it = cls(model_content=content, num_threads=1, **options)
    it.allocate_tensors()
    return it


@cache
def image(images_dir: Path, name: str) -> np.ndarray:
    img = cv2.imread(str(images_dir / name))
    assert img is not None, name
    return img


def run(it: Any, img: np.ndarray) -> np.ndarray:
    """Stretch the RGB image to the input (the models take raw uint8 pixels), invoke, return output 0."""
    d = it.get_input_details()[0]
    h, w = (int(v) for v in d["shape"][1:3])
    it.set_tensor(d["index"], cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (w, h), interpolation=cv2.INTER_AREA)[None])
    it.invoke()
    return np.array(it.get_tensor(it.get_output_details()[0]["index"]))


def ops(it: Any) -> list[str]:
    """The graph's ops by name, without the delegate nodes the runtime appends."""
    return [o["op_name"] for o in it._get_ops_details() if o["op_name"] != "DELEGATE"]


def softmax_head(embedding: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """What the exported model computes, in NumPy: softmax(W . l2norm(e) + b)."""
    e = embedding.astype(np.float64)
    logits = weights.astype(np.float64) @ (e / np.linalg.norm(e)) + bias
    p = np.exp(logits - logits.max())
    return p / p.sum()


@pytest.fixture(scope="session")
def content(models_dir: Path) -> Callable[[str], bytes]:
    return cache(lambda name: (models_dir / name).read_bytes())


@pytest.fixture(scope="session")
def cut(content: Callable[[str], bytes]) -> Callable[[str], tuple[EmbeddingCut, Any]]:
    """cut(name): the model's EmbeddingCut and an interpreter (with the default delegate) on it, made once."""

    @cache
    def make(name: str) -> tuple[EmbeddingCut, Any]:
        c = cut_at_prelogits(content(name), name)
        return c, interpreter(c.model_content)

    return make


@pytest.fixture(scope="session")
def embed(cut: Callable[[str], tuple[EmbeddingCut, Any]], images_dir: Path) -> Callable[[str, str], np.ndarray]:
    """embed(model, image): the dequantised float32 embedding of a shared image."""

    def go(model: str, name: str) -> np.ndarray:
        c, it = cut(model)
        return c.dequantize(run(it, image(images_dir, name)))

    return go


# --- the cut ---------------------------------------------------------------------------------------


def test_every_shared_classifier_is_listed() -> None:
    assert set(PRELOGITS) == set(CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_each_classifier_is_cut_at_its_pre_logits_tensor(content: Callable[[str], bytes], cut: Any, name: str) -> None:
    c, it = cut(name)
    part, width, dtype = PRELOGITS[name]
    assert part in c.tensor_name
    assert (c.width, c.dtype) == (width, dtype)
    assert 2 <= c.dropped_ops <= 4  # the logits layer, reshape, softmax (and the tf2 file's final quantize)
    # The interpreter's one output is that tensor, quantised as the file says; the input is untouched.
    (out,) = it.get_output_details()
    assert out["index"] == c.tensor_index and out["name"] == c.tensor_name
    assert int(np.prod(out["shape"])) == width and np.dtype(out["dtype"]).name == dtype
    assert out["quantization"][0] == pytest.approx(c.scale) and out["quantization"][1] == c.zero_point and c.scale > 0
    full = interpreter(content(name))
    (a,), (b,) = full.get_input_details(), it.get_input_details()
    assert (a["index"], list(a["shape"]), a["dtype"], a["quantization"]) == (b["index"], list(b["shape"]), b["dtype"], b["quantization"])
    assert len(ops(full)) - len(ops(it)) == c.dropped_ops


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_embeddings_repeat_exactly_and_tell_images_apart(embed: Callable[[str, str], np.ndarray], name: str) -> None:
    parrot, again, cat = embed(name, "parrot.jpg"), embed(name, "parrot.jpg"), embed(name, "cat.bmp")
    assert parrot.dtype == np.float32 and parrot.shape == (PRELOGITS[name][1],)
    np.testing.assert_array_equal(parrot, again)
    assert np.std(parrot) > 0
    cosine = float(parrot @ cat / (np.linalg.norm(parrot) * np.linalg.norm(cat)))
    assert cosine < 0.75, cosine  # 0.51 for V1 0.25, 0.25-0.27 for the V2s, -0.09 for V3-Small


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_the_cut_outputs_exactly_the_tensor_the_full_model_computes(content: Callable[[str], bytes], cut: Any, images_dir: Path,
                                                                    name: str) -> None:
    # Without delegates (the same reference kernels in both) the full model can keep every
    # intermediate tensor: the cut's output must be that tensor, bit for bit.
    c, _ = cut(name)
    full = interpreter(content(name), delegates=False, experimental_preserve_all_tensors=True)
    alone = interpreter(c.model_content, delegates=False)
    img = image(images_dir, "grace_hopper.bmp")
    run(full, img)
    np.testing.assert_array_equal(run(alone, img), full.get_tensor(c.tensor_index))


def test_the_full_models_logits_are_its_logits_layer_applied_to_the_cut_embedding(content: Callable[[str], bytes], cut: Any,
                                                                                   embed: Any, images_dir: Path) -> None:
    # With XNNPACK: this model outputs its logits, so its output must be its own 1x1 conv weights
    # applied to what the cut outputs (to within one quantisation step of the output).
    c, _ = cut(LOGITS_MODEL)
    full = interpreter(content(LOGITS_MODEL))
    (layer,) = [o for o in full._get_ops_details() if o["op_name"] == "CONV_2D" and c.tensor_index in list(o["inputs"])]
    _, w_index, b_index = (int(i) for i in layer["inputs"])
    details = {d["index"]: d for d in full.get_tensor_details()}
    w_scale, w_zero = details[w_index]["quantization"]
    weights = (full.get_tensor(w_index).reshape(1001, -1).astype(np.float32) - w_zero) * w_scale
    bias = full.get_tensor(b_index).astype(np.float32) * details[b_index]["quantization"][0]
    out_scale, out_zero = full.get_output_details()[0]["quantization"]
    for name in ("parrot.jpg", "cat.bmp", "grace_hopper.bmp"):
        expected = np.clip(np.round((weights @ embed(LOGITS_MODEL, name) + bias) / out_scale) + out_zero, 0, 255)
        actual = run(full, image(images_dir, name)).reshape(-1).astype(np.float32)
        assert np.abs(expected - actual).max() <= 1, name
        assert expected.argmax() == actual.argmax()


@pytest.mark.parametrize("name", ["mobilenet_v1_0.75_192_quant.tflite", "v3-small_224_1.0_uint8.tflite"])
def test_the_delegate_still_takes_the_cut_backbone(content: Callable[[str], bytes], cut: Any, name: str) -> None:
    # The cut is delegated as the full model is: LiteRT's XNNPACK takes the whole quantised
    # backbone (one partition for V1, 20 for V3-Small's hard-swish graph; the full files have as many
    # or one more, around the uint8 softmax), so both run at the same speed. tflite_runtime 2.14's x86 build
    # delegates no quantised op, in either.
    def delegates(it: Any) -> int:
        return sum(o["op_name"] == "DELEGATE" for o in it._get_ops_details())

    full, cut_model = delegates(interpreter(content(name))), delegates(cut(name)[1])
    assert (cut_model > 0) == (full > 0)
    assert cut_model <= full  # the old softmax was a partition of its own in some files


def test_a_detector_has_no_pre_logits_tensor(content: Callable[[str], bytes]) -> None:
    with pytest.raises(ModelError) as err:
        cut_at_prelogits(content(DETECTOR), DETECTOR)
    message = str(err.value)
    assert "\n" not in message
    assert DETECTOR in message and "4 outputs" in message and "classifier" in (err.value.hint or "")


def test_a_damaged_file_is_a_model_error_not_a_crash(content: Callable[[str], bytes]) -> None:
    whole = content("mobilenet_v1_0.25_128_quant.tflite")
    with pytest.raises(ModelError, match="damaged or truncated"):
        cut_at_prelogits(whole[: len(whole) // 3], "half.tflite")


def test_the_cut_needs_no_schema_library_and_export_says_what_it_needs(content: Callable[[str], bytes],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a Pi with tflite_runtime alone: neither ai_edge_litert nor flatbuffers can be imported.
    for module in ("ai_edge_litert", "ai_edge_litert.schema_py_generated", "flatbuffers"):
        monkeypatch.setitem(sys.modules, module, None)
    backbone = content("mobilenet_v1_0.25_128_quant.tflite")
    assert cut_at_prelogits(backbone).width == 256
    with pytest.raises(ModelError) as err:
        export_classifier(backbone, np.ones((2, 256), np.float32), np.zeros(2, np.float32), ["a", "b"])
    assert "ai-edge-litert" in (err.value.hint or "")


def float_classifier() -> bytes:
    """The paths no shared file takes: a float32 model whose logits layer is a FULLY_CONNECTED on a
    RESHAPE of the pooled tensor. [1, 4, 4, 3] -> AVERAGE_POOL_2D 4x4 -> RESHAPE [1, 3] ->
    FULLY_CONNECTED [5, 3] -> SOFTMAX: its pre-logits tensor is the input's mean per channel."""
    pool, reshape, fc, softmax = 1, 22, 9, 25  # BuiltinOperator
    weights = np.arange(15, dtype=np.float32).reshape(5, 3) / 10
    f32 = tb.FLOAT32
    tensors = [tb.tensor("image", [1, 4, 4, 3], f32), tb.tensor("pool", [1, 1, 1, 3], f32), tb.tensor("shape", [2], tb.INT32, buffer=1),
               tb.tensor("features", [1, 3], f32), tb.tensor("fc/weights", [5, 3], f32, buffer=2), tb.tensor("fc/bias", [5], f32, buffer=3),
               tb.tensor("logits", [1, 5], f32), tb.tensor("probabilities", [1, 5], f32)]
    pool_options = tb.Tab({0: tb.S("b", 1), 1: tb.S("i", 1), 2: tb.S("i", 1), 3: tb.S("i", 4), 4: tb.S("i", 4)})  # VALID, 4x4
    operators = [tb.operator(0, [0], [1], 5, pool_options), tb.operator(1, [1, 2], [3], 17, tb.Tab({0: tb.Vec("i", [1, 3])})),
                 tb.operator(2, [3, 4, 5], [6], 8, tb.Tab()), tb.operator(3, [6], [7], 9, tb.Tab({0: tb.S("f", 1.0)}))]
    buffers = [b"", np.array([1, 3], np.int32).tobytes(), weights.tobytes(), np.zeros(5, np.float32).tobytes()]
    return tb.model(tensors, [0], [7], operators, [pool, reshape, fc, softmax], buffers)


def test_a_float_classifier_is_cut_before_its_fully_connected_logits_layer() -> None:
    c = cut_at_prelogits(float_classifier(), "float.tflite")
    assert (c.tensor_name, c.width, c.dtype, c.scale, c.zero_point, c.dropped_ops) == ("features", 3, "float32", 0.0, 0, 2)
    it = interpreter(c.model_content)
    pixels = np.random.default_rng(0).uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], pixels)
    it.invoke()
    np.testing.assert_allclose(c.dequantize(it.get_tensor(c.tensor_index)), pixels.mean(axis=(0, 1, 2)), atol=1e-6)


@needs_schema
def test_the_export_of_a_float_classifier_needs_no_dequantize() -> None:
    pixels = np.random.default_rng(0).uniform(-1, 1, (1, 4, 4, 3)).astype(np.float32)
    weights, bias = np.array([[1, 0, 0], [0, 1, 1]], np.float32), np.array([0.0, 0.25], np.float32)
    exported = interpreter(export_classifier(float_classifier(), weights, bias, ["red", "not red"]))
    # Nothing to dequantise or flatten: the head starts with the L2 normalisation.
    assert ops(exported) == ["AVERAGE_POOL_2D", "RESHAPE", "L2_NORMALIZATION", "FULLY_CONNECTED", "SOFTMAX"]
    exported.set_tensor(exported.get_input_details()[0]["index"], pixels)
    exported.invoke()
    probabilities = exported.get_tensor(exported.get_output_details()[0]["index"]).reshape(-1)
    np.testing.assert_allclose(probabilities, softmax_head(pixels.mean(axis=(0, 1, 2)), weights, bias), atol=1e-6)


def test_cut_leaves_the_callers_bytes_alone(content: Callable[[str], bytes]) -> None:
    original = bytearray(content("mobilenet_v1_0.25_128_quant.tflite"))
    before = bytes(original)
    edited = cut_at_prelogits(bytes(original)).model_content
    assert bytes(original) == before and edited != before and len(edited) == len(before)


# --- the export ------------------------------------------------------------------------------------


def write_export(backbone: str, images_dir: str, out: str) -> None:
    """Export a head of the three CLASSES' normalised mean embeddings on `backbone` to `out`, and
    its weights, bias and labels to out + '.npz'. Called in-process, or through a subprocess of a
    venv with ai-edge-litert when this one has tflite_runtime only."""
    content = Path(backbone).read_bytes()
    c = cut_at_prelogits(content, backbone)
    it = interpreter(c.model_content)
    rows = []
    for names in CLASSES.values():
        mean = np.mean([c.dequantize(run(it, image(Path(images_dir), n))) for n in names], axis=0)
        rows.append(mean / np.linalg.norm(mean))
    weights = (16.0 * np.stack(rows)).astype(np.float32)  # softmax(16 * cosine), as camapp.teach.head does
    bias = np.array([0.0, 0.5, -0.5], np.float32)  # not zero, so a bias lost on the way would show
    labels = list(CLASSES)
    Path(out).write_bytes(export_classifier(content, weights, bias, labels, f"test head on {Path(backbone).name}"))
    np.savez(out + ".npz", weights=weights, bias=bias, labels=np.array(labels))


@dataclass(frozen=True)
class Exported:
    backbone: str
    path: Path
    content: bytes
    weights: np.ndarray
    bias: np.ndarray
    labels: list[str]


@pytest.fixture(scope="session", params=EXPORT_BACKBONES)
def exported(request: pytest.FixtureRequest, models_dir: Path, images_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    backbone = request.param
    out = tmp_path_factory.mktemp("exported") / f"taught-on-{backbone}"
    if HAVE_SCHEMA:
        write_export(str(models_dir / backbone), str(images_dir), str(out))
    else:
        python = Path(os.environ.get("CAMAPP_EXPORT_PYTHON", REPO / ".venv" / "bin" / "python"))
        require(python.exists(), f"no Python with ai-edge-litert to write the exported file ({python}; set CAMAPP_EXPORT_PYTHON)")
        code = "import sys; from tests.inference.test_graph_edit import write_export; write_export(*sys.argv[1:])"
        proc = subprocess.run([str(python), "-c", code, str(models_dir / backbone), str(images_dir), str(out)], cwd=REPO,
                              env={**os.environ, "CAMAPP_RUNTIME": "ai_edge_litert"}, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    with np.load(str(out) + ".npz") as data:
        return Exported(backbone, out, out.read_bytes(), data["weights"], data["bias"], [str(v) for v in data["labels"]])


def model_table(content: bytes) -> _Table:
    return _Table(content, struct.unpack_from("<I", content, 0)[0])


def metadata_entries(content: bytes) -> dict[str, bytes]:
    model = model_table(content)
    buffers = model.tables(4)
    entries = {}
    for m in model.tables(6):
        start, count = buffers[m.scalar(1, "I")].vector(0)
        entries[m.string(0)] = content[start:start + count]
    return entries


def test_the_exported_file_is_one_ordinary_classifier(exported: Exported, content: Callable[[str], bytes]) -> None:
    backbone = interpreter(content(exported.backbone))
    it = interpreter(exported.content)
    (a,), (b,) = backbone.get_input_details(), it.get_input_details()
    assert (list(a["shape"]), a["dtype"], a["quantization"]) == (list(b["shape"]), b["dtype"], b["quantization"])
    (out,) = it.get_output_details()
    assert list(out["shape"]) == [1, 3] and out["dtype"] == np.float32 and out["name"] == "probabilities"
    # The old logits layer and softmax are gone and the head follows the backbone's pre-logits tensor.
    c = cut_at_prelogits(content(exported.backbone))
    assert ops(it) == ops(interpreter(c.model_content)) + ["DEQUANTIZE", "RESHAPE", "L2_NORMALIZATION", "FULLY_CONNECTED", "SOFTMAX"]
    names = {d["name"] for d in it.get_tensor_details()}
    assert c.tensor_name in names and not any("Conv2d_1c_1x1" in n or "Conv2d_1x1_output" in n or "Predictions" in n for n in names)
    # So its size is the backbone's without the old [1001, D] weights, plus the new [3, D] float32 ones.
    assert len(exported.content) < len(content(exported.backbone)) - 1001 * c.width + exported.weights.nbytes + 16 * 1024


def test_the_exported_probabilities_are_the_head_on_the_cut_embedding(exported: Exported, embed: Any, images_dir: Path) -> None:
    it = interpreter(exported.content)
    for label, names in CLASSES.items():
        for name in names:
            probabilities = run(it, image(images_dir, name)).reshape(-1)
            expected = softmax_head(embed(exported.backbone, name), exported.weights, exported.bias)
            np.testing.assert_allclose(probabilities, expected, atol=1e-5, err_msg=name)
            assert exported.labels[int(probabilities.argmax())] == label == exported.labels[int(expected.argmax())]


def test_labels_and_metadata_travel_in_the_file(exported: Exported) -> None:
    labels = labels_from_metadata(exported.content, str(exported.path))
    assert labels is not None and labels.names == dict(enumerate(exported.labels))
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert archive.namelist() == ["labels.txt"]
    model = model_table(exported.content)
    assert model.scalar(0, "I") == 3 and model.string(3) == f"test head on {exported.backbone}"
    entries = metadata_entries(exported.content)
    assert set(entries) == {"min_runtime_version", "TFLITE_METADATA"}
    # DEQUANTIZE from uint8 needs TF Lite 1.13.1, from int8 1.14.0; the backbones said 1.5.0 and 1.14.0.
    expected = {"mobilenet_v1_0.75_192_quant.tflite": b"1.13.1", "tf2_mobilenet_v2_1.0_224_ptq.tflite": b"1.14.0"}[exported.backbone]
    assert entries["min_runtime_version"].rstrip(b"\0") == expected
    # The TFLite metadata (as the zoo's classifiers carry): the output's axis is labelled by labels.txt.
    meta = entries["TFLITE_METADATA"]
    assert meta[4:8] == b"M001"
    root = _Table(meta, struct.unpack_from("<I", meta, 0)[0])
    (subgraph,) = root.tables(3)
    (image_meta,), (output_meta,) = subgraph.tables(2), subgraph.tables(3)
    assert image_meta.string(0) == "image" and output_meta.string(0) == "probability"
    (label_file,) = output_meta.tables(6)
    assert (label_file.string(0), label_file.scalar(2, "b")) == ("labels.txt", 2)  # TENSOR_AXIS_LABELS


def test_camapp_runs_the_exported_file_as_a_classifier_with_its_own_labels(exported: Exported, frame: Callable[[str], Frame]) -> None:
    model = Model(ModelOptions(str(exported.path)))
    assert model.task == "classify" and "labels.txt" in model.labels.origin
    for label, names in CLASSES.items():
        top = model.run(frame(names[0])).classes[0]
        assert top.label == label and top.score > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("exported", EXPORT_BACKBONES[:1], indirect=True)  # one backbone is enough for the command line
def test_camapp_classify_prints_the_taught_labels(exported: Exported, images_dir: Path) -> None:
    images = [str(images_dir / names[0]) for names in CLASSES.values()]
    result = run_camapp("classify", *images, "--model", str(exported.path))
    assert result.code == 0, result.stderr
    assert [line["classes"][0]["label"] for line in result.json_lines] == list(CLASSES)


@needs_schema
def test_export_refuses_weights_that_do_not_fit_and_labels_that_are_not_one_line(content: Callable[[str], bytes]) -> None:
    backbone = content("mobilenet_v1_0.25_128_quant.tflite")
    good_w, good_b = np.ones((2, 256), np.float32), np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="do not fit"):
        export_classifier(backbone, np.ones((2, 255), np.float32), good_b, ["a", "b"])
    with pytest.raises(ValueError, match="do not fit"):
        export_classifier(backbone, good_w, good_b, ["a", "b", "c"])
    with pytest.raises(ValueError, match="finite"):
        export_classifier(backbone, good_w * np.nan, good_b, ["a", "b"])
    with pytest.raises(ModelError, match="one line"):
        export_classifier(backbone, good_w, good_b, ["a", "two\nlines"])
    with pytest.raises(ModelError, match="4 outputs"):
        export_classifier(content(DETECTOR), good_w, good_b, ["a", "b"])


@needs_schema
def test_a_signature_follows_the_cut_and_the_export(content: Callable[[str], bytes], images_dir: Path) -> None:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as fb

    # None of the shared files has a signature: give one to a copy, as a Keras export would have.
    model = fb.ModelT.InitFromPackedBuf(bytearray(content("mobilenet_v1_0.25_128_quant.tflite")), 0)
    sg = model.subgraphs[0]
    signature, image_in, scores = fb.SignatureDefT(), fb.TensorMapT(), fb.TensorMapT()
    image_in.name, image_in.tensorIndex = b"image", int(sg.inputs[0])
    scores.name, scores.tensorIndex = b"scores", int(sg.outputs[0])
    signature.signatureKey, signature.inputs, signature.outputs = b"serving_default", [image_in], [scores]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    signed = bytes(builder.Output())
    pixels = cv2.resize(cv2.cvtColor(image(images_dir, "parrot.jpg"), cv2.COLOR_BGR2RGB), (128, 128), interpolation=cv2.INTER_AREA)[None]

    c = cut_at_prelogits(signed)
    it = interpreter(c.model_content)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["scores"]}}
    embedding = run(interpreter(c.model_content), image(images_dir, "parrot.jpg"))
    np.testing.assert_array_equal(it.get_signature_runner()(image=pixels)["scores"], embedding)

    weights = np.stack([np.ones(256), -np.ones(256)]).astype(np.float32)
    it = interpreter(export_classifier(signed, weights, np.zeros(2, np.float32), ["up", "down"]))
    assert it.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["scores"]}}
    assert it.get_signature_runner()(image=pixels)["scores"].shape == (1, 2)
