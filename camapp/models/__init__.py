"""Where models come from: the manifest's ids, the files on disk, downloads, checksums, sidecars.

    manifest   models/manifest.yaml: ids, URLs, checksums, labels (data only)
    checksums  sha256 and git blob ids of files
    store      the system folder, the user's cache and a folder mirror
    download   pulling a model id's file (from the mirror or the publisher), verified
    resolve    --model ID or PATH -> the .tflite file and its labels
    zoo        --backbone v1|v2|v3 (+ alpha, resolution) -> a manifest id
    sidecar    a model file's own MODEL.yaml (labels, preprocessing)
    mirror     `camapp models mirror`: filling a folder mirror

Imports point one way (manifest <- checksums <- store <- download <- resolve); nothing here
imports the pipeline, outputs or commands.
"""
