"""Content-addressed pipeline stages: reuse what is finished, redo what changed.

A stage's output folder is named by a hash of its configuration and of its
inputs' keys, so the same configuration on the same inputs always lands in
the same folder, and any change upstream gives a new one. A folder counts as
finished only once its `stage.json` says `complete`; that file is written
last, so a stage killed half-way is redone (or resumed by the stage's own
code, which finds its partial output in the same folder) on the next run.
A stage that fails before writing anything leaves no folder behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

STAGE_FILE = "stage.json"


def stage_key(name: str, config: dict, inputs: list[str]) -> str:
    """12 hex digits of sha256 over the stage name, its config and its inputs' keys."""
    payload = json.dumps({"stage": name, "config": config, "inputs": list(inputs)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class Stage:
    """One finished (or reused) stage: where its output is and whether it ran now."""

    name: str
    key: str
    path: Path
    ran: bool
    seconds: float = 0.0


@dataclass
class StageRunner:
    """Runs stages under `root`, reusing complete ones unless named in `force`.

    `log` records every stage as it was resolved, in order, so callers (and
    tests) can tell what was recomputed.
    """

    root: Path
    force: set[str] = field(default_factory=set)
    log: list[Stage] = field(default_factory=list)
    echo: Callable[[str], None] = print

    def run(self, name: str, label: str, config: dict, inputs: list[str],
            build: Callable[[Path], None], resumable: bool = False) -> Stage:
        """Return the stage's folder, building it with `build(folder)` unless already complete.

        `label` is a readable prefix of the folder name (e.g. the teacher and
        task). A non-resumable stage starts from an empty folder; a resumable
        one (e.g. materials generation) gets its partial output back.
        """
        key = stage_key(name, config, inputs)
        path = self.root / name / f"{label}-{key}"
        marker = path / STAGE_FILE
        if marker.exists() and name not in self.force and _complete(marker):
            self.echo(f"[{name}] reusing {path}")
            stage = Stage(name, key, path, ran=False)
            self.log.append(stage)
            return stage
        if path.exists() and (not resumable or name in self.force):
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        self.echo(f"[{name}] building {path}")
        start = time.perf_counter()
        try:
            build(path)
        except BaseException:
            if path.is_dir() and not any(path.iterdir()):   # failed before writing anything: leave no folder
                path.rmdir()
            raise
        seconds = time.perf_counter() - start
        tmp = path / f".{STAGE_FILE}.partial"   # a kill mid-write must not leave a marker that reads as complete
        tmp.write_text(json.dumps({"stage": name, "key": key, "config": config, "inputs": inputs,
                                   "complete": True, "seconds": round(seconds, 3)}, indent=2, default=str))
        os.replace(tmp, marker)
        stage = Stage(name, key, path, ran=True, seconds=seconds)
        self.log.append(stage)
        return stage


def _complete(marker: Path) -> bool:
    try:
        return bool(json.loads(marker.read_text()).get("complete"))
    except (OSError, ValueError):
        return False
