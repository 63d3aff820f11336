"""Timing: warm-up, repeats, medians, the matmul peak and machine facts.

Machines here are noisy (2 shared cores), so a figure is only worth printing
as a median of repeats after warm-up, next to a baseline measured in the same
run. This module holds those pieces once, for `distill bench` and every script in bench/: `measure` (warm-up excluded,
median/min/max examples per second), `matmul_peak_gflops` (the baseline for
utilisation) and `machine_info` (what the numbers were measured on).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass

from typing import Callable


@dataclass(frozen=True)
class Throughput:
    """Examples per second over `repeats` timed passes (warm-up excluded)."""

    median: float
    min: float
    max: float
    repeats: int
    examples: int

    def to_dict(self) -> dict:
        return asdict(self)


def measure(run_once: Callable[[], int], warmup: int = 1, repeats: int = 5, min_seconds: float = 0.0) -> Throughput:
    """Time `run_once` (which processes some examples and returns how many).

    The first `warmup` calls are discarded: they pay for tracing, graph
    building and cache warming, which a long-running job pays once. Each
    timed repeat calls `run_once` again until it has lasted `min_seconds`
    (timeit's autorange): a pass of a few milliseconds, as a folded student's
    is, would otherwise be one timer tick and one stray interruption from
    a figure that moves by 2x between runs.
    """
    for _ in range(warmup):
        run_once()
    rates, examples = [], 0
    for _ in range(repeats):
        start, done = time.perf_counter(), 0
        while True:
            examples = run_once()
            done += examples
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(done / elapsed)
    return Throughput(statistics.median(rates), min(rates), max(rates), repeats, examples)


def matmul_peak_gflops(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> float:
    """Achieved GFLOP/s of a square matmul: the practical peak to compare models against."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=dtype)
    b = tf.random.normal((n, n), dtype=dtype)
    matmul = tf.function(lambda x, y: tf.matmul(x, y))
    matmul(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def machine_info() -> dict:
    """CPU model, cores, GPUs and library versions, recorded with every benchmark."""
    import tensorflow as tf
    import keras

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }
