"""Bench results as a table on screen, CSV and JSON files."""

from __future__ import annotations

import csv
import json
from typing import Any

from camapp.errors import OutputError

MODEL_COLUMNS = (
    "model",
    "task",
    "input",
    "size_bytes",
    "threads",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "top1",
    "top5",
    "images",
    "published_top1",
    "published_map",
)


def _open(path: str, what: str) -> Any:
    try:
        return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed by the callers' with
    except OSError as exc:
        raise OutputError(f"cannot write the {what} to '{path}': {exc.strerror}", "check the folder exists and is writable") from exc


def write_text(text: str, path: str, what: str) -> None:
    with _open(path, what) as f:
        f.write(text if text.endswith("\n") else text + "\n")


def write_json(data: dict[str, Any], path: str) -> None:
    with _open(path, "JSON") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def write_models_csv(rows: list[dict[str, Any]], path: str) -> None:
    with _open(path, "CSV") as f:
        writer = csv.DictWriter(f, fieldnames=MODEL_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _acc(row: dict[str, Any], key: str) -> str:
    rate = row.get(key)
    if rate is None:
        return "-"
    return f"{round(rate * row['images'])}/{row['images']}"


def published(row: dict[str, Any]) -> str:
    """The publisher's figure: ImageNet top-1 for a classifier, COCO mAP for a detector."""
    if row.get("published_top1") is not None:
        return f"{row['published_top1']:.1f}%"
    if row.get("published_map") is not None:
        return f"mAP {row['published_map']:g}"
    return "-"


def models_table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    head = ("model", "task", "input", "size", "thr", "mean ms", "p50 ms", "p95 ms", "top-1", "top-5", "published")
    lines = [
        (
            r["model"],
            r["task"],
            r["input"],
            f"{r['size_bytes'] / 1e6:.1f} MB",
            str(r["threads"]),
            f"{r['mean_ms']:.2f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p95_ms']:.2f}",
            _acc(r, "top1"),
            _acc(r, "top5"),
            published(r),
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=True)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (head, *lines)]
    out.insert(1, "  ".join("-" * w for w in widths))
    if result.get("images"):
        out.append(f"accuracy: {result['images']['note']}")
    out.append(f"latency: set_tensor + invoke, {result['runs']} runs after {result['warmup']} warm-up runs; {result['host']['cpu']}")
    return "\n".join(out)


def models_markdown(result: dict[str, Any]) -> str:
    head = "| model | task | input | size | threads | mean ms | p50 ms | p95 ms | top-1 | top-5 | published |"
    lines = [head, "|" + "---|" * 11]
    for r in result["rows"]:
        pub = published(r)
        lines.append(
            f"| {r['model']} | {r['task']} | {r['input']} | {r['size_bytes'] / 1e6:.2f} MB | {r['threads']} | {r['mean_ms']:.2f} | "
            f"{r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {_acc(r, 'top1')} | {_acc(r, 'top5')} | {pub} |"
        )
    return "\n".join(lines)


VARIANT_NAMES = {
    "invoke_only": "(a) invoke only",
    "invoke_decode": "(a) while the video is decoded",
    "plain_loop": "(b) plain loop",
    "camapp": "(c) camapp",
    "camapp_pool": "(c) camapp, pool of interpreters",
    "camapp_memory": "(c) camapp, frames in memory",
    "camapp_web": "(c) camapp + 1 MJPEG viewer",
}


def pipeline_table(result: dict[str, Any]) -> str:
    out = [
        f"{result['model']['path']} on {result['source']['path']} ({result['source']['width']}x{result['source']['height']}, "
        f"{result['source']['frames']} frames x {result['rounds']} rounds); {result['host']['cpu']}, {result['host']['cpus']} CPUs"
    ]
    for run in result["runs"]:
        best = " (best)" if run["threads"] == result["best_threads"] else ""
        out.append(f"\n{run['threads']} inference thread(s){best}")
        for v, fps in run["fps"].items():
            ms, cpu = run["ms_per_frame"][v], run["cpu_ms_per_frame"][v]
            out.append(f"  {VARIANT_NAMES[v]:32s} {fps:8.1f} fps  {ms:7.2f} ms/frame  cpu {cpu:6.2f} ms/frame")
        ratios = "  ".join(f"{k} {v:.3f}" for k, v in run["ratios"].items() if v is not None)
        out.append(f"  ratios: {ratios}")
        out.append(
            f"  decoding alone costs {run['decode_cpu_ms_per_frame']:.2f} ms of CPU per frame and leaves invoke "
            f"{run['ratios']['a_decode/a']:.3f} of its speed: the ceiling for c/a here"
        )
        stages = "  ".join(f"{k} {v['mean']:.3f}" for k, v in run["camapp_stages_ms"].items())
        out.append(f"  camapp stages, mean ms: {stages}")
        lat = run["camapp_latency_ms"]
        out.append(f"  camapp frame-to-result latency ms (file mode, queued): p50 {lat['p50']:.2f}  p95 {lat['p95']:.2f}")
        if run.get("results_attached_to_wrong_frame"):
            out.append(f"  ERROR: {run['results_attached_to_wrong_frame']} results were attached to the wrong frame")
        if run.get("live"):
            out.append("  " + live_table(run["live"]))
    if result.get("arrangements"):
        rows = ", ".join(f"{a['workers']} x {a['threads']}: {a['fps']:.1f}" for a in result["arrangements"])
        b = result["best_arrangement"]
        out.append(f"\ninterpreters x threads, camapp fps: {rows}")
        out.append(f"best: {b['workers']} x {b['threads']} ({b['fps']:.1f} fps), {b['over_best_a']:.3f} of the best invoke-only rate, "
                   f"{b['over_best_b']:.3f} of the best plain loop")
    return "\n".join(out)


def live_table(live: dict[str, Any]) -> str:
    lat, inv = live["latency_ms"], live["invoke_ms"]
    return (
        f"live, paced at {live['source_fps']:.1f} fps: {live['processed']} processed, {live['skipped']} skipped; "
        f"latency ms p50 {lat['p50']:.2f} p95 {lat['p95']:.2f}; invoke ms p50 {inv['p50']:.2f}; "
        f"p95 latency / invoke p50 {live['latency_p95_over_invoke']:.2f}, / invoke p95 {live['latency_p95_over_invoke_p95']:.2f}; "
        f"per frame, p95 of (time to sink / own invoke) {live['to_sink_over_own_invoke_p95']:.2f}; "
        f"cpu {live['cpu_ms_per_frame']:.2f} ms/frame (same work unpaced: {live['work_cpu_ms_per_frame']:.2f})"
    )
