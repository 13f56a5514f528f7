"""The live loop (loop.py) and the hand-offs between its threads (handoff.py); see docs/architecture.md."""

from camapp.pipeline.loop import STAGES, FrameModel, Pipeline, PipelineOptions, PreparingModel, StageTimes

__all__ = ["STAGES", "FrameModel", "Pipeline", "PipelineOptions", "PreparingModel", "StageTimes"]
