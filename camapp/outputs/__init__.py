"""Outputs (sinks): where annotated frames and results go. Each one owns its own failure modes."""

from camapp.outputs.base import Sink

__all__ = ["Sink"]
