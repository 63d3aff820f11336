"""Run folders, written the same way by teacher and student runs.

Owns what both kinds of run do with their folder: start it (restart an
interrupted run, never clobber a finished one or a folder that is not a run
of that kind), write JSON and the Keras model atomically so a Ctrl-C never
leaves half a file, read JSON back tolerantly, and decide whether an epoch is
the best so far. Teachers and students share this so that `distill report`
and `distill predict` can treat both run folders alike; `students/` may not
import `teachers/`, so it lives in the foundation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from distill.errors import DistillError

RUN_FILE = "run.json"
MODEL_FILE = "model.keras"


def improved(value, best, mode: str, min_delta: float) -> bool:
    """Whether `value` beats `best` by more than `min_delta` ("min": lower is better). NaN never does."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def save_model(model, run_dir: Path) -> str:
    """Write model.keras atomically (a Ctrl-C mid-save leaves the previous best intact); its sha256."""
    from distill.sources import sha256_file

    tmp = run_dir / f".{MODEL_FILE}.partial.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / MODEL_FILE)
    return sha256_file(run_dir / MODEL_FILE)


def prepare_run_dir(run_dir: Path, overwrite: bool, kind: str) -> None:
    """An empty folder for a new `kind` run. An interrupted run of that kind
    (complete: false) is restarted cleanly; a finished one is only replaced with
    `overwrite=True`; a non-empty folder that is not such a run never is."""
    if run_dir.exists() and any(run_dir.iterdir()):
        info = read_json_or_none(run_dir / RUN_FILE)
        if not (isinstance(info, dict) and info.get("kind") == kind):
            raise DistillError(f"{run_dir}: not empty and not a {kind} run; choose another folder")
        if info.get("complete") and not overwrite:
            raise DistillError(f"{run_dir}: a finished {kind} run; choose another folder or pass "
                               "overwrite (--overwrite) to replace it")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


def read_json_or_none(path: Path):
    """The JSON in `path`, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON atomically: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=2, default=json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def json_default(obj):
    """numpy scalars and arrays, and paths, as JSON."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
