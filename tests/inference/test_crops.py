"""Detect, then classify: a classifier names what is inside each detected box."""

from __future__ import annotations

import json

import pytest

from camapp.inference.crops import CropOptions, CropStage
from camapp.inference.model import Model, ModelOptions
from camapp.inference.tasks.detect import DetectResults
from tests.commands.conftest import assert_one_line_error, run_camapp

from .conftest import DETECTOR, DETECTOR_LABELMAP

V2 = "mobilenet_v2_1.0_224_quant.tflite"
IMAGENET_DOGS = range(152, 270)  # the dog breeds among the 1001 ImageNet outputs (0 is background)


def crops(load_model, models_dir, **options: object) -> tuple[Model, CropStage]:
    detector = load_model(DETECTOR, DETECTOR_LABELMAP, threshold=0.4)
    classifier = Model(ModelOptions(str(models_dir / V2), labels=str(models_dir / "imagenet_labels.txt")))
    return detector, CropStage(classifier, CropOptions(**options))  # type: ignore[arg-type]


def test_each_detected_dog_gets_its_breed_from_the_classifier_on_the_full_resolution_crop(load_model, models_dir, frame):
    detector, stage = crops(load_model, models_dir)
    pets = frame("pets.jpg")
    results = stage.apply(pets, detector.run(pets))
    assert isinstance(results, DetectResults)
    dogs = [d for d in results.detections if d.label == "dog"]
    assert len(dogs) == 2
    assert all(d.kind is not None and d.kind.class_id in IMAGENET_DOGS for d in dogs)
    assert results.scored_labels()[0][0] == dogs[0].kind.label  # type: ignore[union-attr]  # events count the breed
    as_json = results.to_dict()["detections"][0]
    assert as_json["label"] == "dog" and as_json["class"]["label"] == dogs[0].kind.label  # type: ignore[union-attr]


def test_only_the_chosen_labels_big_enough_boxes_and_at_most_max_per_frame_are_classified(load_model, models_dir, frame):
    table = frame("table.jpg")
    detector, only_cups = crops(load_model, models_dir, labels=frozenset({"cup"}))
    named = only_cups.apply(table, detector.run(table))
    assert [d.label for d in named.detections if d.kind is not None] == ["cup"]  # type: ignore[attr-defined]
    _, too_small = crops(load_model, models_dir, min_size=5000)
    assert all(d.kind is None for d in too_small.apply(table, detector.run(table)).detections)  # type: ignore[attr-defined]
    _, one = crops(load_model, models_dir, max_per_frame=1)
    named = one.apply(table, detector.run(table))
    assert [d.kind is not None for d in named.detections] == [True] + [False] * (len(named.detections) - 1)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_camapp_detect_with_crops_prints_both_labels_and_bad_setups_are_one_line_errors(images_dir):
    table = str(images_dir / "table.jpg")
    ok = run_camapp("detect", table, "--model", "ssd_mobilenet_v1_coco_quant", "--threshold", "0.4",
                    "--crops", "mobilenet_v2_1.0_224_quant", "--crops-labels", "knife,cup")
    assert ok.code == 0, ok.stderr
    detections = json.loads(ok.stdout.splitlines()[0])["detections"]
    assert {d["label"] for d in detections if "class" in d} == {"knife", "cup"}
    # A classifier cannot be the detector, and a detector cannot name crops.
    classifier = "mobilenet_v2_1.0_224_quant"
    assert_one_line_error(run_camapp("run", "--source", table, "--model", classifier, "--crops", classifier), 2, "crops", "detector")
    assert_one_line_error(run_camapp("detect", table, "--model", "ssd_mobilenet_v1_coco_quant", "--crops", "ssd_mobilenet_v1_coco_quant"),
                          2, "crops")


@pytest.mark.slow
def test_a_video_run_with_crops_names_every_person_box_in_the_jsonl_and_nothing_else(tmp_path, videos_dir):
    out = tmp_path / "r.jsonl"
    ran = run_camapp("run", "--source", str(videos_dir / "one-by-one-person-detection.mp4"), "--model", "ssd_mobilenet_v1_coco_quant",
                     "--crops", "mobilenet_v1_0.25_128_quant", "--crops-labels", "person", "--max-frames", "150", "--output", str(out))
    assert ran.code == 0, ran.stderr
    detections = [d for line in out.read_text().splitlines() for d in json.loads(line)["detections"]]
    people = [d for d in detections if d["label"] == "person"]
    assert len(people) > 50  # the first visitor stands at the table from frame 63
    big_enough = [d for d in people if min(d["box_px"][2] - d["box_px"][0], d["box_px"][3] - d["box_px"][1]) >= 24]
    assert big_enough and all("class" in d and d["class"]["label"] for d in big_enough)
    assert not any("class" in d for d in detections if d["label"] != "person")
