#!/usr/bin/env python3
"""Combine several `camapp bench pipeline --json` files of the same setup into one: medians of every number.

    python benchmarks/medians.py run1.json run2.json run3.json --json median.json --markdown median.md

The Markdown part breaks the remaining overhead of camapp (c) over invoke-only (a) down by stage:
the worker's serial time per frame (its invoke, slowed by the work running beside it, plus
postprocess and hand-offs), and the stages that run on the other threads at the same time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any


def median_tree(trees: list[Any]) -> Any:
    first = trees[0]
    if isinstance(first, dict):
        return {k: median_tree([t[k] for t in trees if isinstance(t, dict) and k in t]) for k in first}
    if isinstance(first, bool) or not isinstance(first, int | float):
        return (
            first
            if not isinstance(first, list) or len({len(t) for t in trees}) > 1
            else [median_tree(list(x)) for x in zip(*trees, strict=True)]
        )
    values = [t for t in trees if isinstance(t, int | float)]
    m = statistics.median(values)
    return int(m) if all(isinstance(v, int) for v in values) and float(m).is_integer() else round(m, 4)


def overhead_rows(run: dict[str, Any]) -> list[tuple[str, float]]:
    ms = run["ms_per_frame"]
    st = {k: v["mean"] for k, v in run["camapp_stages_ms"].items()}
    a, c = ms["invoke_only"], ms["camapp"]
    inflation = st["invoke"] - a
    rest = c - a - inflation - st.get("postprocess", 0.0)
    return [
        ("(a) invoke only, ms/frame", a),
        ("(c) camapp, ms/frame", c),
        ("(a) while another thread only decodes the video, ms/frame", ms.get("invoke_decode", float("nan"))),
        ("decoding, CPU ms per frame (that thread's own)", run.get("decode_cpu_ms_per_frame", float("nan"))),
        ("overhead c - a", c - a),
        ("  invoke slowed by work beside it (c's invoke - a)", inflation),
        ("  postprocess on the worker", st.get("postprocess", 0.0)),
        ("  hand-offs, GIL, waits (rest)", rest),
        ("beside the worker: capture + decode (capture thread)", st.get("capture", 0.0)),
        ("beside the worker: preprocess (capture thread)", st.get("preprocess", 0.0)),
        ("beside the worker: overlay (output thread)", st.get("overlay", 0.0)),
        ("beside the worker: encode (sink)", st.get("encode", 0.0)),
    ]


def markdown(result: dict[str, Any], runs: int) -> str:
    out = [
        f"Medians of {runs} runs: {result['model']['path'].rsplit('/', 1)[-1]}, {result['source']['frames']} frames x "
        f"{result['rounds']} rounds per run, {result['host']['cpu']} ({result['host']['cpus']} CPUs)",
        "",
    ]
    out.append(
        "| threads | (a) invoke | (a) while decoding | (b) plain loop | (c) camapp | (c) memory | (c) + MJPEG "
        "| c/a | c/b | c_memory/a | c_web/a | ceiling a_decode/a |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    variants = ("invoke_only", "invoke_decode", "plain_loop", "camapp", "camapp_memory", "camapp_web")
    for run in result["runs"]:
        f, r = run["fps"], run["ratios"]
        fps = " | ".join(f"{f[v]:.1f}" if v in f else "-" for v in variants)
        ratios = " | ".join(f"{r[k]:.3f}" if r.get(k) is not None else "-" for k in ("c/a", "c/b", "c_memory/a", "c_web/a", "a_decode/a"))
        out.append(f"| {run['threads']} | {fps} | {ratios} |")
    for run in result["runs"]:
        out += ["", f"Overhead at {run['threads']} thread(s), ms per frame:", "", "| | ms |", "|---|---|"]
        out += [f"| {name} | {value:.3f} |" for name, value in overhead_rows(run)]
    return "\n".join(out)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+")
    p.add_argument("--json")
    p.add_argument("--markdown")
    args = p.parse_args()
    data = []
    for name in args.files:
        with open(name, encoding="utf-8") as f:
            data.append(json.load(f))
    result = median_tree(data)
    result["median_of_runs"] = len(data)
    md = markdown(result, len(data))
    print(md)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
