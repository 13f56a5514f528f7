"""`camapp bench`: how fast each model runs on this device, and what the pipeline costs around it.

models.py    invoke latency, size and (optionally) accuracy per model and thread count
available.py which models to bench when none are named (cache, system folder, mirror folder)
pipeline.py  (a) invoke only, (b) the plain sequential loop, (c) camapp's Pipeline, in one run
plain.py     (b) itself, written the way the popular Raspberry Pi examples write it
accuracy.py  labelled image sets (folders or CSV) and label matching
plot.py      the latency / accuracy chart (a panel per task), drawn with OpenCV
chart.py     its primitives: round ticks, text boxes, label placement that never clips
measure.py   timing, CPU time and resident memory helpers shared by the above
"""
