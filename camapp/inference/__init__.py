"""Inference: the runtime, model inspection, labels, pre- and post-processing, and the tasks."""
