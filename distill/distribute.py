"""Training on several devices or hosts: TensorFlow's own `tf.distribute`.

`--strategy` says where the training engine (`distill.training`) runs a
training:

- `one`: one device, TensorFlow's default strategy (what every run did before);
- `mirrored`: `tf.distribute.MirroredStrategy` over this host's GPUs, or, with
  no GPU, over the CPU's logical devices (`split_cpu`: how tests simulate GPUs);
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy` across the
  hosts that `TF_CONFIG` names; every host runs the same command;
- `auto`: multi-worker when TF_CONFIG names more than one worker, mirrored
  when more than one GPU is visible, else one.

The aim is the one-device results up to floating-point order, at the batch
size the user asked for. What that takes, and where it is done:

- the global batch is cut into one slice per replica (`distribute_batches`),
  as evenly as its rows allow. A batch with fewer rows than replicas (a last
  batch of 1 row) goes whole to the first replica, and the others get a copy
  of its first row with sample weight 0, which adds nothing (a model passes
  Keras's `sample_weight` on to `replica_loss` and compiles its metrics as
  `weighted_metrics`): an empty slice
  would break TensorFlow kernels (Conv1D returns its input's shape on 0
  rows), and duplicating the batch would change Adam's sparse updates of an
  embedding table (it squares each slice of the gradient before adding
  duplicates up);
- a replica's loss is its share of the batch's mean (`replica_loss`): its
  gradients, summed over the replicas, are those of the whole batch's mean
  however unevenly the batch was cut (Keras's convention, each replica's mean
  over the number of replicas, is right only for equal slices);
- gradients are summed over the replicas before they are clipped by their
  global norm (`sum_before_clipping`): Keras clips each replica's own share;
- dropout: Keras draws the same mask on every replica (a seed generator's
  state is a mirrored variable); `spread_seeds` gives each replica its own
  stream. With dropout the masks then differ from one device's, as any other
  draw would: equal losses step by step need dropout 0.

Only the chief writes the run folder (run.json, epochs.jsonl, TensorBoard,
model.keras, the backup). The other workers run the same code, which they
must (saving reads metric variables through collective ops every worker
joins), into a private folder under the system's temporary folder
(`worker_folder`): their backup lives there across a restart and the folder
is removed when training ends.

`MultiWorkerMirroredStrategy` must exist before TensorFlow starts its
devices, so a program makes it first: `setup("multi-worker")` before loading
a teacher (the CLI does so before anything else); later calls return the same
placement. Nothing here imports TensorFlow until a strategy is made, so the
CLI checks `--strategy` and TF_CONFIG (`check`) before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from distill.errors import DistillError

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")
HELP = ("where training runs: one (one device), mirrored (this host's GPUs), multi-worker (the hosts TF_CONFIG "
        "names; run the same command on each), auto (multi-worker when TF_CONFIG names more than one worker, "
        "mirrored when more than one GPU is visible, else one); the batch size stays the global one "
        "(default auto)")
"""The --strategy option's help, one text for every command that has it."""
SEED_STRIDE = 2 ** 32
"""How far apart replicas' dropout seed counters start (a counter moves by one per draw)."""


# ------------------------------------------------------------ before TensorFlow
def tf_config() -> dict | None:
    """TF_CONFIG as a dict, None when unset; one line when it is not a cluster TensorFlow can use."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DistillError(f"TF_CONFIG is not JSON ({exc.msg} at character {exc.pos})") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise DistillError('TF_CONFIG needs "cluster" and "task", e.g. {"cluster": {"worker": ["host1:port", '
                           '"host2:port"]}, "task": {"type": "worker", "index": 0}}')
    other = sorted(set(cluster) - {"chief", "worker"})
    if other:
        raise DistillError(f"TF_CONFIG: cluster has {', '.join(other)}; multi-worker training uses only "
                           "chief and worker tasks")
    for job, hosts in cluster.items():
        _check_hosts(job, hosts)
    kind, index = task.get("type"), task.get("index", 0)
    hosts = cluster.get(kind)
    if not isinstance(hosts, list) or not isinstance(index, int) or not 0 <= index < len(hosts):
        raise DistillError(f"TF_CONFIG: task {kind!r} {index!r} is not in the cluster "
                           f"({', '.join(f'{k}: {len(v)}' for k, v in cluster.items())})")
    return config


def _check_hosts(job: str, hosts) -> None:
    """A job's hosts: a list of "host:port" strings, the port a number TensorFlow can listen on. TensorFlow
    itself finds a missing port only when it starts its servers, with a traceback."""
    if not isinstance(hosts, list) or not hosts:
        raise DistillError(f"TF_CONFIG: cluster job {job!r} must be a list of \"host:port\" addresses, got "
                           f"{json.dumps(hosts)[:60]}")
    for host in hosts:
        if not isinstance(host, str):
            raise DistillError(f"TF_CONFIG: cluster job {job!r} has host {json.dumps(host)[:60]}, not a "
                               "\"host:port\" string")
        name, colon, port = host.rpartition(":")
        if not colon or not name:
            raise DistillError(f"TF_CONFIG: cluster job {job!r} host {host!r} has no port; write it "
                               f"\"{host.strip(':') or 'host'}:2222\" (host:port, a port free on that host)")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise DistillError(f"TF_CONFIG: cluster job {job!r} host {host!r}: port {port!r} is not a number "
                               "from 1 to 65535")


def workers(config: dict | None) -> int:
    """How many hosts a TF_CONFIG names (chief and workers)."""
    if not config:
        return 0
    return sum(len(config["cluster"].get(kind, [])) for kind in ("chief", "worker"))


def check(name: str) -> None:
    """A known strategy; for multi-worker (or auto under a TF_CONFIG), a usable TF_CONFIG. No TensorFlow."""
    if name not in STRATEGIES:
        raise DistillError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name in ("one", "mirrored"):   # TF_CONFIG is none of their business
        return
    config = tf_config()
    if name == "multi-worker" and config is None:
        raise DistillError("--strategy multi-worker needs TF_CONFIG naming the hosts and this host's task, e.g. "
                           'TF_CONFIG=\'{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                           '"task": {"type": "worker", "index": 0}}\'')


def check_one_host(name: str, command: str) -> None:
    """For commands that run on one host only: no multi-worker, asked for or picked by auto."""
    check(name)
    if name == "multi-worker" or (name == "auto" and workers(tf_config()) > 1):
        raise DistillError(f"{command} runs on one host; run its training steps on several hosts with "
                           "`distill teacher finetune` / `distill student train --strategy multi-worker` "
                           "(or unset TF_CONFIG)")


# ------------------------------------------------------------------ placement
@dataclass
class Placement:
    """Where a training runs: the strategy, its replicas, and this process's place among the workers."""

    name: str              # one, mirrored or multi-worker (auto resolved)
    strategy: Any          # a tf.distribute.Strategy
    replicas: int          # in sync, all workers together
    workers: int = 1
    rank: int = 0          # this worker's position; 0 is the chief
    devices: tuple = ()

    @property
    def distributed(self) -> bool:
        return self.name != "one"

    @property
    def chief(self) -> bool:
        return self.rank == 0

    @property
    def local_replicas(self) -> int:
        return self.replicas // self.workers

    def scope(self):
        """The strategy's scope (create and compile models in it); nothing for one device."""
        return self.strategy.scope() if self.distributed else contextlib.nullcontext()

    def describe(self) -> dict:
        """What train_results.json records."""
        return {"name": self.name, "replicas": self.replicas, "workers": self.workers, "rank": self.rank}

    def line(self) -> str:
        if not self.distributed:
            return "one device"
        where = f"{self.workers} workers, this one {self.rank}{' (chief)' if self.chief else ''}" \
            if self.workers > 1 else ", ".join(d.rsplit("/", 1)[-1] for d in self.devices)
        return f"{self.name}: {self.replicas} replicas ({where})"


_made: dict[str, Placement] = {}


def resolve(name: str) -> str:
    """`auto` made concrete (this looks at the GPUs, so TensorFlow is imported); others as they are."""
    check(name)
    if name != "auto":
        return name
    if workers(tf_config()) > 1:
        return "multi-worker"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one"


def setup(name: str = "auto") -> Placement:
    """The placement for `--strategy name`, made once per process and kind (see the module docstring)."""
    resolved = resolve(name)
    if resolved in _made:
        return _made[resolved]
    import tensorflow as tf

    if resolved == "one":
        placement = Placement("one", tf.distribute.get_strategy(), 1)
    elif resolved == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        placement = Placement("mirrored", strategy, strategy.num_replicas_in_sync, devices=tuple(devices))
    else:
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:   # "Collective ops must be configured at program startup"
            raise DistillError(f"--strategy multi-worker must be set up before TensorFlow starts ({exc}): call "
                               "distill.distribute.setup('multi-worker') before building any model") from None
        resolver = strategy.cluster_resolver
        cluster = resolver.cluster_spec().as_dict()
        has_chief = "chief" in cluster
        rank = 0 if resolver.task_type == "chief" else resolver.task_id + (1 if has_chief else 0)
        placement = Placement("multi-worker", strategy, strategy.num_replicas_in_sync,
                              workers=workers({"cluster": cluster}), rank=rank,
                              devices=tuple(strategy.extended.worker_devices))
    _made[resolved] = placement
    return placement


def split_cpu(n: int) -> None:
    """Make the CPU look like `n` devices, so `mirrored` has replicas on a machine with no GPU
    (tests and bench/distributed_finetune.py); before TensorFlow starts its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise DistillError("split_cpu must run before TensorFlow starts its devices") from None


# ----------------------------------------------------------------- the data
def cuts(rows: int, replicas: int) -> list[tuple[int, int, float]]:
    """(start, stop, sample weight) of each replica's slice of a batch of `rows`: sizes differ by at most
    one row. With fewer rows than replicas: all of it for the first, the first row at weight 0 for the
    others (never an empty slice)."""
    if rows < replicas:
        return [(0, rows, 1.0)] + [(0, 1, 0.0)] * (replicas - 1)
    edges = [0]
    for i in range(replicas):
        edges.append(edges[-1] + rows // replicas + (1 if i < rows % replicas else 0))
    return [(start, stop, 1.0) for start, stop in zip(edges[:-1], edges[1:])]


def fed_rows(rows: int, replicas: int) -> int:
    """How many rows the replicas get of a batch of `rows`, weight-0 copies included: what Keras's loss
    tracker counts (it weighs each replica's loss by its rows, not by sample weight)."""
    return rows if rows >= replicas else rows + replicas - 1


def distribute_batches(placement: Placement, generate: Callable[[], Iterable], signature):
    """A distributed dataset of `generate()`'s global `(x, y)` batches, each cut into one slice per
    replica (`cuts`) as `(x, y, sample weight)`; this worker keeps its replicas' slices. Every worker
    runs the same generator. `signature` is that of `(x, y)`."""
    import numpy as np
    import tensorflow as tf

    def dataset_fn(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * local

        def slices():
            for batch in generate():
                rows = len(tf.nest.flatten(batch[0])[0])
                for start, stop, weight in cuts(rows, context.num_replicas_in_sync)[first:first + local]:
                    x, y = tf.nest.map_structure(lambda a: a[start:stop], batch)
                    yield x, y, np.full(stop - start, weight, np.float32)

        options = tf.data.Options()   # the slices are this worker's already
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        weighted = (*signature, tf.TensorSpec([None], tf.float32, name="sample_weight"))
        dataset = tf.data.Dataset.from_generator(slices, output_signature=weighted).with_options(options)
        return dataset.prefetch(2 * local)

    return placement.strategy.distribute_datasets_from_function(dataset_fn)


# --------------------------------------------------------- inside the step
def replica_loss(*terms, sample_weight=None):
    """The loss a replica minimises, from terms `(mean, count[, weight])`: `mean` over this replica's
    `count` rows (any value when count is 0), the loss being the sum of weight x mean. A slice whose
    `sample_weight` is all 0 (a copy, see `cuts`) counts no rows.

    On one replica: that sum, as it always was. On several, this replica's share of the loss over the
    whole batch, sum(weight x mean x count / the count over all replicas), so that the replicas'
    gradients, summed, are the whole batch's. Its value is the batch's loss over the number of replicas
    (what Keras's loss tracker multiplies back), so the loss Keras records is the whole batch's.
    """
    import tensorflow as tf

    terms = [(t[0], t[1], t[2] if len(t) > 2 else 1.0) for t in terms]
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        if len(terms) == 1 and terms[0][2] == 1.0:
            return terms[0][0]
        return sum(weight * mean for mean, _, weight in terms)
    counts = [tf.cast(count, tf.float32) for _, count, _ in terms]
    if sample_weight is not None:
        real = tf.cast(tf.reduce_sum(sample_weight) > 0, tf.float32)
        counts = [count * real for count in counts]
    sums = [tf.where(count > 0, tf.cast(mean, tf.float32) * count, 0.0) for (mean, _, _), count in zip(terms, counts)]
    totals = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(tf.stack(sums + counts)))
    k = len(terms)
    share = sum(weight * s / tf.maximum(totals[k + i], 1.0) for i, (s, (_, _, weight)) in enumerate(zip(sums, terms)))
    whole = sum(weight * totals[i] / tf.maximum(totals[k + i], 1.0) for i, (_, _, weight) in enumerate(terms))
    return share + tf.stop_gradient(whole * (1.0 / replicas) - share)


def sum_before_clipping(optimizer) -> None:
    """Make a Keras optimizer sum the replicas' gradients before it clips them (by norm or global norm),
    as one device clips the whole batch's gradient; Keras clips each replica's share, then sums.
    Only this instance changes (its class, hence a saved model, stays Keras's)."""
    import tensorflow as tf

    if getattr(optimizer, "_distill_sums_first", False):   # once: a second wrap would sum twice
        return
    clip, reduce = optimizer._clip_gradients, optimizer._all_reduce_sum_gradients

    def several():
        context = tf.distribute.get_replica_context()
        return context if context is not None and context.num_replicas_in_sync > 1 else None

    def clip_summed(grads):
        context = several()
        if context is not None:
            present = [g for g in grads if g is not None]
            summed = iter(context.all_reduce(tf.distribute.ReduceOp.SUM, present))
            grads = [None if g is None else next(summed) for g in grads]
        return clip(grads)

    def already_summed(grads_and_vars):
        return list(grads_and_vars) if several() is not None else reduce(grads_and_vars)

    optimizer._clip_gradients, optimizer._all_reduce_sum_gradients = clip_summed, already_summed
    optimizer._distill_sums_first = True


# ------------------------------------------------------------- dropout seeds
def _parts(variable, placement: Placement) -> tuple:
    inner = getattr(variable, "value", variable)
    return tuple(getattr(inner, "values", ())) if placement.distributed else ()


def spread_seeds(variables: list, placement: Placement, values: list | None = None) -> None:
    """Set seed generators' states to `values` (None: keep the current ones), each replica's counter
    SEED_STRIDE x its replica number further on, so replicas draw different dropout masks."""
    import numpy as np

    for i, variable in enumerate(variables):
        parts = _parts(variable, placement)
        value = np.asarray(values[i] if values is not None else seed_bases([variable], placement)[0])
        if not parts:
            variable.assign(value.astype(variable.dtype))
            continue
        for j, part in enumerate(parts):
            replica = placement.rank * len(parts) + j
            part.assign((value + np.array([0, replica * SEED_STRIDE])).astype(part.dtype.as_numpy_dtype))


def seed_bases(variables: list, placement: Placement) -> list:
    """The seed generators' states as one device would hold them (what a backup keeps)."""
    import numpy as np

    bases = []
    for variable in variables:
        parts = _parts(variable, placement)
        if not parts:
            bases.append(np.asarray(variable.numpy()).tolist())
            continue
        first = placement.rank * len(parts)
        bases.append((np.asarray(parts[0].numpy()) - np.array([0, first * SEED_STRIDE])).tolist())
    return bases


# --------------------------------------------------------------- workers
def gather(placement: Placement, value: int) -> list[int]:
    """Every worker's `value`, in rank order (a collective: every worker must call it)."""
    import tensorflow as tf

    if placement.workers == 1:
        return [value]
    strategy = placement.strategy
    values = strategy.experimental_distribute_values_from_function(lambda _: tf.constant([value], tf.int64))
    per_replica = [int(v) for v in strategy.gather(values, axis=0).numpy()]
    return per_replica[::placement.local_replicas]


def worker_folder(run_dir, placement: Placement) -> Path:
    """Where this worker writes: the run folder for the chief (and one host); for another worker a
    private folder under the system's temporary folder, the same for the same run on every restart."""
    run_dir = Path(run_dir)
    if placement.chief:
        return run_dir
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / "distill-workers" / f"{run_dir.name}-{digest}-rank{placement.rank}"
