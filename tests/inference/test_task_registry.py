"""Tasks are plug-ins: a new task is one module plus one registry entry, and the rest of camapp follows.

The new task here is a toy semantic segmenter (one [1, H, W, classes] output; its results are the
labels covering at least 5 % of the frame). Registering it is the only change: model inspection
picks it from the outputs, the config accepts its name, and JSON, the overlay and change events
all work through the Results interface, with no edit anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

from camapp.analytics.events import DebounceOptions, EventDetector
from camapp.config import load_config
from camapp.frames import Frame, Image
from camapp.inference import tasks
from camapp.inference.labels import Labels
from camapp.inference.model import inspect_model
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import IDENTITY, Transform
from camapp.inference.tensors import ModelInfo, TensorInfo
from camapp.overlay import annotate
from camapp.results import Results, SummaryKind

IMAGE = ("image", [1, 64, 64, 3], np.float32)


@dataclass
class SegmentResults(Results):
    areas: dict[str, float] = field(default_factory=dict)  # label -> share of the frame

    task: ClassVar[str] = "segment"
    summary: ClassVar[SummaryKind] = "counts"

    def scored_labels(self) -> list[tuple[str, float]]:
        return sorted(self.areas.items(), key=lambda kv: -kv[1])

    def payload(self) -> dict[str, Any]:
        return {"areas": {k: round(v, 3) for k, v in self.areas.items()}}

    def draw(self, image: Image, top_k: int) -> None:
        image[:4, :, :] = 255  # a white bar: enough to see that annotate() asked us


class SegmentDecoder:
    def __init__(self, output: int, labels: Labels) -> None:
        self.output, self.labels = output, labels

    def decode(self, interpreter: Any, frame: Frame, transform: Transform, inference_ms: float) -> SegmentResults:
        winners = interpreter.get_tensor(self.output)[0].argmax(-1)
        ids, counts = np.unique(winners, return_counts=True)
        share = {self.labels.name(int(i)): float(c / winners.size) for i, c in zip(ids, counts, strict=True) if c >= 0.05 * winners.size}
        h, w = frame.image.shape[:2]
        return SegmentResults(frame.source_id, frame.index, frame.timestamp_ns, w, h, inference_ms, share)


class SegmentTask:
    name = "segment"
    noun = "a semantic segmenter"
    plural = "semantic segmenters"
    needs = "one [1, H, W, classes] output"
    results_type = SegmentResults
    command_help = "segment images, one JSON line each"
    settings = ()

    def matches(self, outputs: tuple[TensorInfo, ...]) -> bool:
        return len(outputs) == 1 and len(outputs[0].shape) == 4

    def fit_labels(self, labels: Labels, info: ModelInfo) -> Labels:
        return labels

    def decoder(self, info: ModelInfo, labels: Labels, options: ModelOptions) -> SegmentDecoder:
        return SegmentDecoder(info.outputs[0].index, labels)


class FakeInterpreter:
    """Tensor details in the form both runtimes return them, and one output tensor's values."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits

    def get_input_details(self) -> list[dict[str, Any]]:
        return [{"name": IMAGE[0], "index": 0, "shape": np.array(IMAGE[1]), "dtype": IMAGE[2], "quantization": (0.0, 0)}]

    def get_output_details(self) -> list[dict[str, Any]]:
        return [{"name": "SemanticPredictions", "index": 1, "shape": np.array(self.logits.shape), "dtype": np.float32,
                 "quantization": (0.0, 0)}]

    def get_tensor(self, index: int) -> np.ndarray:
        return self.logits


@pytest.fixture
def with_segmenter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tasks.TASKS, "segment", SegmentTask())  # the one registry line


def scene(road_share: float) -> np.ndarray:
    """Logits for a 64x64 mask: 'road' over the bottom `road_share`, 'sky' above."""
    logits = np.zeros((1, 64, 64, 2), np.float32)
    rows = round(64 * road_share)
    logits[0, : 64 - rows, :, 0] = 1  # sky
    logits[0, 64 - rows :, :, 1] = 1  # road
    return logits


def test_without_the_entry_such_a_model_is_refused() -> None:
    with pytest.raises(Exception, match="neither an image classifier nor an SSD detector"):
        inspect_model("deeplab.tflite", FakeInterpreter(scene(0.5)))


@pytest.mark.usefixtures("with_segmenter")
def test_a_registered_task_is_found_configured_decoded_serialised_drawn_and_summarised() -> None:
    interpreter = FakeInterpreter(scene(0.5))
    info = inspect_model("deeplab.tflite", interpreter)
    assert info.task == "segment"
    assert load_config(None, overrides={"model.task": "segment"}).model.task == "segment"

    decoder = tasks.get_task("segment").decoder(info, Labels({0: "sky", 1: "road"}, 0, "test"), ModelOptions("deeplab.tflite"))
    frame = Frame(np.zeros((48, 64, 3), np.uint8), 7, 0, "cam")
    results = decoder.decode(interpreter, frame, IDENTITY, 3.0)
    assert results.to_dict() == {"source": "cam", "frame": 7, "width": 64, "height": 48, "inference_ms": 3.0,
                                 "areas": {"sky": 0.5, "road": 0.5}}
    assert annotate(frame.image, results, None)[:4].min() == 255 and frame.image.max() == 0

    detector = EventDetector(DebounceOptions(min_frames=1, min_seconds=0))
    events = detector.update(results, 0.0)
    assert sorted((e.type, e.label) for e in events) == [("appeared", "road"), ("appeared", "sky")]
    later = decoder.decode(FakeInterpreter(scene(1.0)), frame, IDENTITY, 3.0)
    assert [(e.type, e.label) for e in detector.update(later, 1.0)] == [("left", "sky")]


@pytest.mark.usefixtures("with_segmenter")
def test_a_registered_task_gets_its_own_image_command_with_its_settings() -> None:
    from camapp.cli import build_parser

    args = build_parser().parse_args(["segment", "street.jpg", "--model", "deeplab.tflite"])
    assert args.task_name == "segment" and args.images == ["street.jpg"]
    with pytest.raises(SystemExit):  # a segmenter has no threshold, so its command has no --threshold
        build_parser().parse_args(["segment", "street.jpg", "--threshold", "0.5"])
    assert build_parser().parse_args(["detect", "x.jpg", "--threshold", "0.4"]).threshold == 0.4
