"""(b) The plain sequential loop, written the way the popular Raspberry Pi examples write it.

EdjeElectronics' TFLite_detection_video.py, TensorFlow's examples/lite/examples/*/raspberry_pi and
picamera2's examples/tensorflow all do, one frame at a time on one thread: read a frame, convert
the whole frame BGR -> RGB, resize it to the model input, np.expand_dims, set_tensor, invoke,
get_tensor, then draw boxes and labels on the frame with OpenCV. This is the baseline camapp must
never be slower than, so it is kept deliberately naive: no reused buffers, no threads, the
interpreter's own num_threads only, and OpenCV's default thread pool.
"""

from __future__ import annotations

import cv2
import numpy as np

from camapp.bench.measure import Measure, Stopwatch
from camapp.inference.labels import Labels
from camapp.inference.model import inspect_model
from camapp.inference.runtime import interpreter_class
from camapp.inference.tasks.detect import find_ssd_outputs


def plain_loop(video: str, model_path: str, labels: Labels, threads: int, frames: int, threshold: float = 0.5) -> Measure:
    """Run the example-style loop over the first `frames` frames of `video`."""
    _, interpreter_cls = interpreter_class()
    interpreter = interpreter_cls(model_path=model_path, num_threads=threads)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    height, width = int(input_details[0]["shape"][1]), int(input_details[0]["shape"][2])
    info = inspect_model(model_path, interpreter)
    ssd = find_ssd_outputs(info.outputs)
    capture = cv2.VideoCapture(video)
    im_w, im_h = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    # The examples warm up implicitly on their first frame; do one here so it is not timed.
    interpreter.set_tensor(input_details[0]["index"], np.zeros((1, height, width, 3), input_details[0]["dtype"]))
    interpreter.invoke()
    watch = Stopwatch().start()
    done = 0
    while done < frames:
        ret, frame = capture.read()
        if not ret:
            break
        frame_rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        frame_resized = cv2.resize(frame_rgb, (width, height))
        input_data = np.expand_dims(frame_resized, axis=0)
        interpreter.set_tensor(input_details[0]["index"], input_data)
        interpreter.invoke()
        if ssd is not None:
            boxes = interpreter.get_tensor(ssd.boxes)[0]
            classes = interpreter.get_tensor(ssd.classes)[0]
            scores = interpreter.get_tensor(ssd.scores)[0]
            _draw_detections(frame, boxes, classes, scores, labels, threshold, im_w, im_h)
        else:
            scores = interpreter.get_tensor(info.outputs[0].index)[0]
            top = int(np.argmax(scores))
            cv2.putText(frame, f"{labels.name(top)}: {int(scores[top])}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        done += 1
    measure = watch.stop(done)
    capture.release()
    return measure


def _draw_detections(frame, boxes, classes, scores, labels: Labels, threshold: float, im_w: float, im_h: float) -> None:  # type: ignore[no-untyped-def]
    for i in range(len(scores)):
        if scores[i] > threshold and scores[i] <= 1.0:
            ymin = int(max(1, boxes[i][0] * im_h))
            xmin = int(max(1, boxes[i][1] * im_w))
            ymax = int(min(im_h, boxes[i][2] * im_h))
            xmax = int(min(im_w, boxes[i][3] * im_w))
            cv2.rectangle(frame, (xmin, ymin), (xmax, ymax), (10, 255, 0), 2)
            label = f"{labels.name(int(classes[i]))}: {int(scores[i] * 100)}%"
            (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
            ly = max(ymin, th + 10)
            cv2.rectangle(frame, (xmin, ly - th - 10), (xmin + tw, ly + base - 10), (255, 255, 255), cv2.FILLED)
            cv2.putText(frame, label, (xmin, ly - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
