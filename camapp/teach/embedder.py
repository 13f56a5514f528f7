"""Embeddings: a classifier from the zoo or a file, cut in memory at its pre-logits tensor.

The pre-logits tensor (the pooled features the classifier layer reads) describes an image in
a few hundred numbers that transfer to classes the network never saw; its softmax does not
(15-30 points worse as features). The cut keeps the file's own input and preprocessing, so a
taught model sees frames exactly as its examples were seen, and XNNPACK runs it at the full
model's speed (camapp.inference.graph_edit).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from numpy.typing import NDArray

from camapp.frames import Image
from camapp.inference import runtime
from camapp.inference.graph_edit import EmbeddingCut, cut_at_prelogits
from camapp.inference.options import ModelOptions
from camapp.inference.preprocess import InputSpec, Preprocessor
from camapp.inference.tensors import TensorInfo, read_model_file

Embeddings = NDArray[np.float32]  # [N, D], float32, dequantised, not normalised


class Embedder:
    """One interpreter on the cut model; embed(image) -> a float32 vector. Not thread-safe."""

    def __init__(self, options: ModelOptions) -> None:
        self.options = options
        self.content = read_model_file(options.path)
        self.cut: EmbeddingCut = cut_at_prelogits(self.content, options.path)
        self.interpreter = runtime.load_interpreter(self.cut.model_content, options.path, options.threads)
        inp = TensorInfo.from_details(self.interpreter.get_input_details()[0])
        self.input = inp
        self.output = TensorInfo.from_details(self.interpreter.get_output_details()[0])
        self.preprocessor = Preprocessor(
            InputSpec(inp.shape[2], inp.shape[1], inp.dtype, inp.scale, inp.zero_point,
                      options.mean, options.std, options.resize, options.interpolation)
        )
        self._input_tensor = self.interpreter.tensor(inp.index)

    @property
    def width(self) -> int:
        return self.cut.width

    def embed(self, image: Image) -> NDArray[np.float32]:
        self.preprocessor.into(image, self._input_tensor())
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.output.index).reshape(-1)
        if self.output.quantized:
            return ((raw.astype(np.float32) - self.output.zero_point) * self.output.scale).astype(np.float32)
        return raw.astype(np.float32, copy=True)

    def embed_all(self, images: Iterable[Image]) -> Embeddings:
        rows = [self.embed(image) for image in images]
        return np.stack(rows) if rows else np.zeros((0, self.width), np.float32)

    def stream(self, images: Iterable[Image]) -> Iterator[NDArray[np.float32]]:
        for image in images:
            yield self.embed(image)
