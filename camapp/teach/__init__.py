"""Teach camapp your own classes: few-shot classifiers on a MobileNet's embeddings.

dataset (one folder per class) -> embedder (the classifier cut at its pre-logits tensor) -> head
(a cosine classifier with a "none of these" floor) -> evaluate (a time-ordered held-out split) ->
build (one ordinary .tflite: the cut backbone plus the head, labels inside).
"""
