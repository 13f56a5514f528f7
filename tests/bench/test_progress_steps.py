"""What `camapp bench` says on its progress line: which model or variant, which round of how many."""

from __future__ import annotations

from typing import Any

import pytest

from camapp.bench import models, pipeline
from camapp.bench.models import ModelsBenchOptions, bench_models
from camapp.bench.pipeline import PipelineBenchOptions, bench_pipeline, steps
from camapp.inference.options import ModelOptions


class Recorder:
    """Stands in for camapp.progress.Progress and keeps what would have been drawn."""

    made: list[Recorder] = []

    def __init__(self, desc: str, total: float | None = None, unit: str = "it", **_kw: Any) -> None:
        self.total, self.done, self.said = total, 0.0, [desc]
        Recorder.made.append(self)

    def describe(self, text: str) -> None:
        self.said.append(text)

    def update(self, n: float = 1) -> None:
        self.done += n

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


@pytest.fixture
def recorder(monkeypatch):
    Recorder.made = []
    monkeypatch.setattr(pipeline, "Progress", Recorder)
    monkeypatch.setattr(models, "Progress", Recorder)
    return Recorder


def test_bench_pipeline_names_the_variant_and_the_round_and_counts_every_step(recorder, videos_dir, models_dir, monkeypatch):
    monkeypatch.setattr("camapp.bench.pipeline.cpu_cores", lambda: 2)  # 1 thread each: a pool of two as well
    opts = PipelineBenchOptions(
        source=str(videos_dir / "one-by-one-person-detection.mp4"),
        model=ModelOptions(str(models_dir / "mobilenet_v1_0.25_128_quant.tflite")),
        threads=(1,),
        frames=10,
        rounds=2,
        web=False,
    )
    bench_pipeline(opts)
    (bar,) = recorder.made
    assert bar.total == steps(opts) == 2 * 6 and bar.done == bar.total  # 6 variants without the web view, 2 rounds
    variants = ("invoke_only", "invoke_decode", "plain_loop", "camapp", "camapp_memory", "camapp_pool")
    assert bar.said[1:] == [f"1 thread, round {r}/2: {v}" for r in (1, 2) for v in variants]


def test_steps_count_the_web_variant_the_pool_and_the_live_run_for_each_thread_count(monkeypatch):
    monkeypatch.setattr("camapp.bench.pipeline.cpu_cores", lambda: 2)
    opts = PipelineBenchOptions(source="v.mp4", model=ModelOptions("m.tflite"), threads=(1, 2), rounds=3, live_frames=100)
    assert steps(opts) == (3 * 7 + 1) + (3 * 6 + 1)  # 1 thread: a pool of 2 too; 2 threads fill both cores


def test_bench_models_names_each_model_and_thread_count(recorder, models_dir):
    opts = ModelsBenchOptions(
        models=("mobilenet_v1_0.25_128_quant", "ssd_mobilenet_v1_coco_quant"), threads=(1, 2), runs=2, warmup=0, mirror=str(models_dir)
    )
    result = bench_models(opts, notify=lambda _line: None)
    (bar,) = recorder.made
    assert bar.total == bar.done == len(result["rows"]) == 4
    assert bar.said[1:] == [
        "model 1/2 mobilenet_v1_0.25_128_quant, 1 thread",
        "model 1/2 mobilenet_v1_0.25_128_quant, 2 threads",
        "model 2/2 ssd_mobilenet_v1_coco_quant, 1 thread",
        "model 2/2 ssd_mobilenet_v1_coco_quant, 2 threads",
    ]
