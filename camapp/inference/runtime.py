"""The only module that imports a TFLite runtime.

ai-edge-litert (LiteRT) is the default; tflite_runtime is the fallback for older Pi OS images
where it is installed with numpy<2 (it stopped at 2.14 and breaks with NumPy 2).
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Any

from camapp.errors import ModelError

log = logging.getLogger(__name__)

RUNTIMES = ("ai_edge_litert", "tflite_runtime")


@cache
def interpreter_class() -> tuple[str, Any]:
    """(runtime name, Interpreter class). CAMAPP_RUNTIME=tflite_runtime forces the fallback."""
    wanted = os.environ.get("CAMAPP_RUNTIME", "").strip()
    order = [wanted] if wanted else list(RUNTIMES)
    errors = []
    for name in order:
        try:
            if name == "ai_edge_litert":
                from ai_edge_litert.interpreter import Interpreter
            elif name == "tflite_runtime":
                from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
            else:
                raise ModelError(f"CAMAPP_RUNTIME={name} is not a runtime camapp knows", f"use one of: {', '.join(RUNTIMES)}")
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        return name, Interpreter
    raise ModelError(
        "no TFLite runtime is installed (" + "; ".join(errors) + ")",
        "pip install ai-edge-litert (or tflite-runtime with numpy<2 on older Pi OS)",
    )


def runtime_version() -> str:
    name, _ = interpreter_class()
    try:
        from importlib.metadata import version

        dist = "ai-edge-litert" if name == "ai_edge_litert" else "tflite-runtime"
        return f"{name} {version(dist)}"
    except Exception:
        return name


def load_interpreter(model_content: bytes, path: str, threads: int) -> Any:
    """Create and allocate one interpreter. Called once per model for the whole run."""
    name, interpreter_cls = interpreter_class()
    try:
        interpreter = interpreter_cls(model_content=model_content, num_threads=threads)
        interpreter.allocate_tensors()
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"'{path}' is not a valid TFLite model ({first})", "download it again or check the path") from exc
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{name} cannot run '{path}': {first}", "the model may need ops this runtime lacks") from exc
    log.info("runtime %s, %d thread(s), model %s", runtime_version(), threads, path)
    return interpreter
