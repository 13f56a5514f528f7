"""camapp models list | info | pull | verify: the model zoo from models/manifest.yaml."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from camapp.commands import COMMANDS
from camapp.commands.common import add_common_args, build_config, task_name
from camapp.errors import EXIT_OK, EXIT_USAGE, ModelError, UsageError
from camapp.models import download, mirror, zoo
from camapp.models.checksums import file_digests, verify_file
from camapp.models.manifest import ModelEntry, entry_labels, find_entry, load_manifest
from camapp.models.resolve import entry_for_file, fallback_labels, looks_like_path
from camapp.models.store import ModelStore, in_folder_mirror

STORE_ARGS = {"cache_dir": "model.cache_dir", "mirror": "model.mirror"}


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("models", help=COMMANDS["models"][1], description="The model zoo (models/manifest.yaml).")
    actions = p.add_subparsers(dest="models_action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    lp = _action(actions, "list", "the manifest's models: task, backbone, alpha, resolution, size, accuracy, cached", list_models)
    lp.add_argument("--task", type=task_name, metavar="TASK", help="only this task (classify, detect)")
    lp.add_argument("--backbone", choices=["v1", "v2", "v3", "v3-small", "v3-large", "other"], help="only this backbone")
    lp.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    ip = _action(actions, "info", "inputs, outputs, quantisation and labels, read from the model file", model_info)
    ip.add_argument("model", metavar="ID|PATH", help="a model id or a .tflite file")
    ip.add_argument("--labels", "-l", help="labels file (default: the sidecar, the manifest or the model's metadata)")
    ip.add_argument("--json", action="store_true", help="JSON instead of text")
    pp = _action(actions, "pull", "download models into the cache and verify their checksums", pull_models)
    pp.add_argument("ids", nargs="*", metavar="ID", help="model ids (camapp models list)")
    pp.add_argument("--all", action="store_true", help="every model in the manifest")
    pp.add_argument("--force", action="store_true", help="download again even when a copy is present")
    vp = _action(actions, "verify", "re-hash the cached models against the manifest", verify_models)
    vp.add_argument("ids", nargs="*", metavar="ID", help="only these models (default: every cached one)")


def _action(actions: argparse._SubParsersAction, name: str, helptext: str, handler: Any) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    p = actions.add_parser(name, help=helptext, description=helptext)
    p.add_argument("--cache-dir", dest="cache_dir", help="model cache folder (default ~/.cache/camapp/models)")
    p.add_argument("--mirror", help="folder or http(s) base URL holding the model files by name")
    add_common_args(p)
    p.set_defaults(handler=handler)
    return p


def _store(args: argparse.Namespace) -> ModelStore:
    cfg = build_config(args, STORE_ARGS)
    return ModelStore.create(cfg.model.cache_dir, cfg.model.mirror)


def list_models(args: argparse.Namespace) -> int:
    store = _store(args)
    members = zoo.family(args.backbone) if args.backbone else None
    entries = [e for e in load_manifest().values() if (not args.task or e.task == args.task) and (members is None or e.backbone in members)]
    index = mirror.probe(entries, store)
    rows = [zoo.row(e, store, index.files.get(e.id)) for e in entries]
    if args.json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    header = ("ID", "TASK", "BACKBONE", "ALPHA", "RES", "INPUT", "SIZE", "ACCURACY", "CACHED", "MIRROR", "CHECKSUM")
    table = [header] + [_table_row(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    print(
        "\n* = the default for --backbone/--task. MIRROR: 'yes' = the mirror holds the file by name (its checksum is"
        " checked when it is used or pulled); '?' = the mirror did not answer. CHECKSUM: 'here' = sha256 checked here"
        " against a real file; 'sha256' or 'git-blob' = stated by the publisher only; '-' = none (pulled but unverified)."
        f"\nCache: {store.cache_dir}; system folder: {store.system_dir}; mirror: {_mirror_text(index)}"
    )
    return EXIT_OK


def _mirror_text(index: mirror.MirrorIndex) -> str:
    if not index.mirror:
        return "none (set CAMAPP_MODEL_MIRROR or model.mirror)"
    return index.mirror + (f" (could not ask it: {index.problem})" if index.problem else "")


_MIRROR_CELL = {"yes": "yes", "no": "-", "wrong-size": "wrong-size", "unknown": "?"}


def _table_row(r: dict[str, Any]) -> tuple[str, ...]:
    entry = load_manifest()[r["id"]]
    return (
        r["id"] + (" *" if r["default"] else ""),
        r["task"],
        r["backbone"],
        str(r["alpha"]) if r["alpha"] is not None else "-",
        str(r["resolution"] or "-"),
        r["input_dtype"],
        zoo.size_text(r["size"]),
        zoo.accuracy_text(entry),
        r["cached"] or "-",
        _MIRROR_CELL.get(r["mirror"] or "no", "-"),
        "here" if r["verified"] else (r["checksum"] or "-").replace("_", "-"),
    )


def model_info(args: argparse.Namespace) -> int:
    store = _store(args)
    if looks_like_path(args.model):
        path = Path(args.model).expanduser()
        known = entry_for_file(path)  # a file the manifest knows by its checksum gets its id and labels
        labels = args.labels or (fallback_labels(str(path), known) if known else None)
        _show_file(path, labels, known, store, "file", args, sidecar=True)
        return EXIT_OK
    entry = find_entry(args.model)
    cached = store.find(entry)
    if cached is not None:
        _show_file(cached, args.labels or entry_labels(entry), entry, store, store.describe_location(entry), args)
        return EXIT_OK
    # Not cached: a folder mirror is read in place (after its checksum matched), an http mirror
    # lends a verified copy to a temporary folder that is deleted afterwards.
    index = mirror.probe([entry], store)
    state = index.state(entry.id)
    in_mirror = in_folder_mirror(entry, store) if store.mirror and mirror.is_folder(store.mirror) else None
    if in_mirror is not None:
        _show_file(in_mirror, args.labels or entry_labels(entry), entry, store, "mirror", args)
        return EXIT_OK
    if state in ("yes", "wrong-size") and store.mirror and not mirror.is_folder(store.mirror):
        with tempfile.TemporaryDirectory(prefix="camapp-info-") as tmp:
            pulled = download.pull(entry, ModelStore(Path(tmp), store.mirror, store.system_dir), progress=sys.stderr.isatty())
            _show_file(pulled.path, args.labels or entry_labels(entry), entry, store, "mirror", args, shown_path=pulled.source)
        return EXIT_OK
    _print_info({"id": entry.id, "cached": False, "manifest": zoo.row(entry, store)}, args.json)
    where = {"no": " (nor in the mirror)", "unknown": f" (the mirror did not answer: {index.problem})"}.get(state or "", "")
    print(f"(not downloaded{where}: 'camapp models pull {entry.id}' fetches it, then this shows the file)", file=sys.stderr)
    return EXIT_OK


def _show_file(
    path: Path,
    labels: str | None,
    entry: ModelEntry | None,
    store: ModelStore,
    location: str,
    args: argparse.Namespace,
    *,
    sidecar: bool = False,
    shown_path: str | None = None,
) -> None:
    """Load the model at `path` and print what it is; `location` says where it was found."""
    from camapp.inference.model import Model, ModelOptions
    from camapp.models.sidecar import apply_sidecar

    options = ModelOptions(str(path), labels=labels)
    if sidecar:  # your own model (or a known one given by path): its my.yaml applies, as for `run`
        options = apply_sidecar(options, {"labels"} if args.labels else set())
    data = _describe(Model(options), entry, store)
    data["location"] = location
    if shown_path:
        data["path"] = shown_path
    _print_info(data, args.json)


def _describe(model: Any, entry: ModelEntry | None, store: ModelStore) -> dict[str, Any]:
    from camapp.inference import runtime

    info = model.info
    digests = file_digests(Path(info.path))
    tensors = [info.input, *info.outputs]
    return {
        "path": info.path,
        "id": entry.id if entry else None,
        "task": info.task,
        "runtime": runtime.runtime_version(),
        "input": _tensor(info.input),
        "outputs": [_tensor(t) for t in info.outputs],
        "quantised": any(t.quantized for t in tensors),
        "labels": model.labels.origin or None,
        "label_count": len(model.labels),
        "size": digests.size,
        "sha256": digests.sha256,
        "checksum": verify_file(entry, Path(info.path)).status if entry else None,
    }


def _tensor(t: Any) -> dict[str, Any]:
    q = {"scale": t.scale, "zero_point": t.zero_point} if t.quantized else None
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype.name, "quantization": q}


def _print_info(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=1))
        return
    if "manifest" in data:
        for key, value in data["manifest"].items():
            if value not in (None, {}, ""):
                print(f"{key:<16}{value}")
        return
    for key in ("path", "location", "id", "task", "runtime"):
        if data.get(key) is not None:
            print(f"{key:<16}{data[key]}")
    print(f"{'input':<16}{_tensor_text(data['input'])}")
    for out in data["outputs"]:
        print(f"{'output':<16}{_tensor_text(out)}")
    print(f"{'quantised':<16}{'yes' if data['quantised'] else 'no (float)'}")
    print(f"{'labels':<16}{data['labels'] or 'none'} ({data['label_count']} labels)")
    print(f"{'size':<16}{data['size']} bytes")
    print(f"{'sha256':<16}{data['sha256']}" + (f" ({data['checksum']})" if data["checksum"] else ""))


def _tensor_text(t: dict[str, Any]) -> str:
    q = t["quantization"]
    quant = f", quantised: scale {q['scale']:.6g} zero point {q['zero_point']}" if q else ", not quantised"
    return f"{t['name']} {t['shape']} {t['dtype']}{quant}"


def pull_models(args: argparse.Namespace) -> int:
    store = _store(args)
    entries = load_manifest()
    ids = list(entries) if args.all else args.ids
    if not ids:
        raise UsageError("no model to pull", "name model ids (camapp models list) or use --all")
    unknown = [i for i in ids if i not in entries]
    if unknown:
        raise UsageError(f"unknown model id(s): {', '.join(unknown)}", "see 'camapp models list'")
    failed = 0
    for model_id in ids:
        try:
            result = download.pull(entries[model_id], store, force=args.force, progress=sys.stderr.isatty())
        except ModelError as exc:
            print(f"camapp: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(_pull_line(entries[model_id], result))
    if failed and len(ids) > 1:
        print(f"camapp: error: {failed} of {len(ids)} models could not be pulled", file=sys.stderr)
    return EXIT_USAGE if failed else EXIT_OK


def _pull_line(entry: ModelEntry, result: download.PullResult) -> str:
    if not result.downloaded:
        return f"{entry.id}: present at {result.path} (not downloaded again; 'camapp models verify' re-checks it)"
    check = f"{entry.checksum} verified" if result.verified else "NOT verified: no published checksum"
    return f"{entry.id}: pulled from {result.source}, {check} -> {result.path}"


def verify_models(args: argparse.Namespace) -> int:
    store = _store(args)
    entries = load_manifest()
    unknown = [i for i in args.ids if i not in entries]
    if unknown:
        raise UsageError(f"unknown model id(s): {', '.join(unknown)}", "see 'camapp models list'")
    bad = checked = 0
    for entry in (entries[i] for i in args.ids) if args.ids else entries.values():
        path = store.find(entry)
        if path is None:
            if args.ids:
                print(f"{'missing':<11}{entry.id}  not in {store.system_dir} or {store.cache_dir}")
                bad += 1
            continue
        checked += 1
        result = verify_file(entry, path)
        bad += result.status == "mismatch"
        print(f"{result.status.upper() if result.status == 'mismatch' else result.status:<11}{entry.id}  {path}  ({result.detail})")
    if not checked and not args.ids:
        print(f"no models cached in {store.system_dir} or {store.cache_dir}")
    if bad:
        print(
            f"camapp: error: {bad} model file(s) failed verification: 'camapp models pull --force ID' downloads them again", file=sys.stderr
        )
    return EXIT_USAGE if bad else EXIT_OK
