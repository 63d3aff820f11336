"""distill.distribute and the engine on several replicas (this machine has no GPU, so it is simulated):

- mirrored: the CPU split into 2 logical devices; the tiny teacher and a student train step by step as on
  one device, at the same global batch (batches of 1 row included); a run cut on one device resumes under it;
- multi-worker: 2 local worker processes with TF_CONFIG on 127.0.0.1 ports; both finish with equal
  weights and only the chief writes the run folder; one killed mid-run, both restarted: they resume;
- --strategy and TF_CONFIG are checked before TensorFlow.

Logical devices and MultiWorkerMirroredStrategy must be set up before TensorFlow starts its devices, so
those tests run their training in a fresh Python process (`_python`).
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill import distribute
from distill.errors import DistillError

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _python(code: str, *args, timeout: int = 300) -> dict:
    """Run `code` in a fresh Python; the dict it printed on its `RESULT` line."""
    child = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=_env(), cwd=ROOT,
                           capture_output=True, text=True, timeout=timeout)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-3000:]
    return _result(child.stdout)


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


BATCH_LOSSES = """
def batch_losses(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util
    events = EventAccumulator(run_dir + "/tensorboard", size_guidance={"tensors": 0}).Reload()
    return [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("batch/loss")]
"""

QUIET_TEACHER = """
def teacher():                                # the tiny teacher, dropout 0: equal losses need equal (no) masks
    loaded = tiny_teacher(vocab)
    quiet = dataclasses.replace(loaded.config, dropout=0.0)
    encoder = BertEncoder(quiet)
    encoder.set_weights(loaded.encoder.get_weights())
    return dataclasses.replace(loaded, config=quiet, encoder=encoder)
"""

# ------------------------------------------------------------------ mirrored
MIRRORED_TEACHER = """
import dataclasses, json, sys
from distill import distribute
distribute.split_cpu(2)                       # before TensorFlow starts its devices
import keras, numpy as np, tensorflow as tf
from distill.data.synthetic import marker_task
from teachers.bert import BertEncoder
from teachers.finetune import Finetuner
from teachers.testing import TINY_FINETUNE, tiny_teacher
""" + BATCH_LOSSES + """
vocab, out = sys.argv[1], sys.argv[2]
# 97 rows in batches of 16: a batch of 1 row goes to one replica, the other gets a weight-0 filler row.
task = marker_task(n_train=97, n_dev=40, n_test=20, seed=1)
# clip_norm 0.1 clips every step: Keras would clip each replica's share (losses 1e-2 apart), not the sum.
config = dataclasses.replace(TINY_FINETUNE, epochs=2, dropout=0.0, clip_norm=0.1)
""" + QUIET_TEACHER + """
runs = {}
for strategy in ("one", "mirrored"):
    f = Finetuner(config, progress=False, echo=None, strategy=strategy).fit(teacher(), task, f"{out}/{strategy}")
    runs[strategy] = {"losses": batch_losses(f"{out}/{strategy}"), "weights": [w.numpy() for w in f.model_.weights],
                      "traces": dict(f.traces_), "results": json.load(open(f"{out}/{strategy}/train_results.json")),
                      "epochs": [[h["train_loss"], h["train_accuracy"], h["dev_loss"]] for h in f.history_]}

# Keras draws the same dropout mask on every replica; spread_seeds gives each its own.
placement = distribute.setup("mirrored")
with placement.scope():
    dropout = keras.layers.Dropout(0.5, seed=3)

@tf.function
def drop():
    return dropout(tf.ones([8, 16]), training=True)

def masks():
    return [m.numpy() for m in placement.strategy.experimental_local_results(placement.strategy.run(drop))]

before = masks()
distribute.spread_seeds(dropout.variables, placement)
after = masks()

one, mirrored = runs["one"], runs["mirrored"]
print("RESULT", json.dumps({
    "one": one["losses"], "mirrored": mirrored["losses"],
    "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(one["weights"], mirrored["weights"])),
    "traces": mirrored["traces"], "strategy": mirrored["results"]["strategy"],
    "epochs": [one["epochs"], mirrored["epochs"]],
    "same_masks_before": bool(np.array_equal(*before)), "same_masks_after": bool(np.array_equal(*after))}))
"""


def test_mirrored_teacher_matches_one_device_step_by_step(tmp_path):
    from teachers.testing import tiny_vocab

    out = _python(MIRRORED_TEACHER, tiny_vocab(tmp_path / "vocab.txt"), tmp_path)
    assert len(out["one"]) == len(out["mirrored"]) == 2 * 7
    assert max(abs(a - b) for a, b in zip(out["one"], out["mirrored"])) < 1e-4
    assert out["max_weight_diff"] < 1e-4
    one, mirrored = out["epochs"]   # the epochs' train loss and accuracy: the filler row weighs nothing
    assert np.allclose(one, mirrored, atol=1e-5)
    assert out["strategy"] == {"name": "mirrored", "replicas": 2, "workers": 1, "rank": 0}
    assert out["traces"] == {"train": 1, "eval": 1}
    assert out["same_masks_before"] and not out["same_masks_after"]


SWITCHED = """
import dataclasses, json, sys
from distill import distribute
distribute.split_cpu(2)
import numpy as np
from distill.data.synthetic import marker_task
from teachers.bert import BertEncoder
from teachers.finetune import Finetuner
from teachers.testing import TINY_FINETUNE, tiny_teacher

vocab, out = sys.argv[1], sys.argv[2]
task = marker_task(n_train=48, n_dev=16, n_test=8, seed=3)
config = dataclasses.replace(TINY_FINETUNE, epochs=2, dropout=0.0)
""" + QUIET_TEACHER + """
def stop(record):
    if record["epoch"] == 1:
        raise KeyboardInterrupt

whole = Finetuner(config, progress=False, echo=None).fit(teacher(), task, f"{out}/whole")
try:
    Finetuner(config, progress=False, echo=None, on_epoch_end=stop).fit(teacher(), task, f"{out}/cut")
except KeyboardInterrupt:
    pass
resumed = Finetuner(config, progress=False, echo=None, strategy="mirrored").fit(teacher(), task, f"{out}/cut")
print("RESULT", json.dumps({"resumed": resumed.resumed_epochs_, "max_weight_diff": max(
    float(np.abs(a.numpy() - b.numpy()).max()) for a, b in zip(whole.model_.weights, resumed.model_.weights))}))
"""


def test_a_run_cut_on_one_device_resumes_under_mirrored(tmp_path):
    """The strategy is no part of a run: its backup resumes on another, to the same weights."""
    from teachers.testing import tiny_vocab

    out = _python(SWITCHED, tiny_vocab(tmp_path / "vocab.txt"), tmp_path)
    assert out["resumed"] == 1 and out["max_weight_diff"] < 1e-4


MIRRORED_STUDENT = """
import json, sys
from distill import distribute
distribute.split_cpu(2)
import numpy as np
from materials.testing import write_toy_materials
from students.train import StudentConfig, StudentTrainer
""" + BATCH_LOSSES + """
out = sys.argv[1]
# 65 train and 23 transfer rows in batches of 16: a batch of 1 row (the other replica gets a weight-0 filler
# row: a Conv1D fails on an empty slice), one of 7 splits 4/3; `mix` has a gold-label term over labelled rows
# only (transfer rows have none) and a distillation term over all.
materials = write_toy_materials(out + "/toy.h5", n_per_split=65, transfer_rows=23)
config = StudentConfig(filters=8, batch_size=16, lr=3e-3, epochs=2, eval_batch_size=64, dropout=0.0, loss="mix",
                       embedding="non-static")
runs = {}
for strategy in ("one", "mirrored"):
    trainer = StudentTrainer(config, progress=False, echo=None, strategy=strategy).fit(materials, f"{out}/{strategy}")
    runs[strategy] = (batch_losses(f"{out}/{strategy}"), [w.numpy() for w in trainer.model_.weights],
                      trainer.history_)
(one, w1, h1), (mirrored, w2, h2) = runs["one"], runs["mirrored"]
print("RESULT", json.dumps({"one": one, "mirrored": mirrored,
                            "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2)),
                            "agreement": [[a["train_agreement"], b["train_agreement"]] for a, b in zip(h1, h2)]}))
"""


def test_mirrored_student_matches_one_device_step_by_step(tmp_path):
    out = _python(MIRRORED_STUDENT, tmp_path)
    assert len(out["one"]) == len(out["mirrored"]) == 2 * 7
    assert max(abs(a - b) for a, b in zip(out["one"], out["mirrored"])) < 1e-4
    assert out["max_weight_diff"] < 1e-4
    for one, mirrored in out["agreement"]:   # the epoch's mean: the filler row weighs nothing
        assert mirrored == pytest.approx(one, abs=1e-6)


# -------------------------------------------------------------- multi-worker
WORKER = """
import dataclasses, json, os, signal, sys
from distill import distribute
placement = distribute.setup("multi-worker")   # first: before TensorFlow starts its devices
import keras, numpy as np
from distill.data.synthetic import marker_task
from teachers.finetune import Finetuner
from teachers.testing import TINY_FINETUNE, tiny_teacher

vocab, run_dir, weights, kill_at = sys.argv[1:5]

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if f"{self.epoch + 1}/{batch}" == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

config = dataclasses.replace(TINY_FINETUNE, epochs=3, patience=3)   # dropout on: seeds must resume too
finetuner = Finetuner(config, progress=False, echo=print, strategy="multi-worker", callbacks=[Kill()]).fit(
    tiny_teacher(vocab), marker_task(n_train=64, n_dev=32, n_test=16, seed=2), run_dir)
np.savez(weights, *[w.numpy() for w in finetuner.model_.weights])
print("RESULT", json.dumps({"rank": placement.rank, "resumed": finetuner.resumed_epochs_,
                            "epochs": len(finetuner.history_),
                            "folder": str(distribute.worker_folder(run_dir, placement))}), flush=True)
"""


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(root: Path, tag: str, kill_at=("none", "none")) -> list:
    """Two worker processes of WORKER on free 127.0.0.1 ports; their temporary folder is root/tmp."""
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    (root / "tmp").mkdir(exist_ok=True)
    procs = []
    for rank in range(2):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": rank}}
        log = open(root / f"{tag}-{rank}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root / "vocab.txt"), str(root / "run"), str(root / f"{tag}-{rank}.npz"),
             kill_at[rank]], env=_env(TF_CONFIG=json.dumps(config), TMPDIR=str(root / "tmp")), cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT))
    return procs


def _finish(procs, root: Path, tag: str, timeout: int = 300) -> list[dict]:
    try:
        for proc in procs:
            proc.wait(timeout=timeout)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    logs = [(root / f"{tag}-{rank}.log").read_text() for rank in range(2)]
    for proc, log in zip(procs, logs):
        assert proc.returncode == 0, log[-3000:]
    return [_result(log) for log in logs]


def _weights(path: Path) -> list:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    from teachers.testing import tiny_vocab

    root = tmp_path_factory.mktemp("workers")
    tiny_vocab(root / "vocab.txt")
    results = _finish(_start_workers(root, "whole"), root, "whole")
    return root, results


def test_two_workers_finish_with_equal_weights_and_only_the_chief_writes_the_run(two_workers):
    root, results = two_workers
    assert [r["rank"] for r in results] == [0, 1] and all(r["epochs"] == 3 for r in results)
    for a, b in zip(_weights(root / "whole-0.npz"), _weights(root / "whole-1.npz")):
        np.testing.assert_array_equal(a, b)
    run = root / "run"
    assert results[0]["folder"] == str(run)
    assert json.loads((run / "run.json").read_text())["complete"] is True
    assert json.loads((run / "train_results.json").read_text())["strategy"] == \
        {"name": "multi-worker", "replicas": 2, "workers": 2, "rank": 0}
    assert not (run / "backup").exists()
    private = Path(results[1]["folder"])   # the other worker's: under its temporary folder, gone at the end
    assert private.is_relative_to(root / "tmp") and not private.exists()


def test_a_killed_worker_then_both_restarted_resume_from_the_last_epoch(two_workers, tmp_path):
    root, _ = two_workers
    (tmp_path / "vocab.txt").write_bytes((root / "vocab.txt").read_bytes())
    procs = _start_workers(tmp_path, "cut", kill_at=("none", "2/1"))   # worker 1 dies in epoch 2
    try:
        assert procs[1].wait(timeout=300) == -signal.SIGKILL, (tmp_path / "cut-1.log").read_text()[-3000:]
    finally:
        procs[0].kill()   # the chief waits on its peer for ever: restart both
        procs[0].wait()
        procs[1].kill()
    state = json.loads((tmp_path / "run" / "backup" / "engine_state.json").read_text())
    assert state["epoch"] == 1 and json.loads((tmp_path / "run" / "run.json").read_text())["complete"] is False
    private = next((tmp_path / "tmp" / "distill-workers").iterdir())   # the other worker's own backup
    assert json.loads((private / "backup" / "engine_state.json").read_text())["epoch"] == 1

    results = _finish(_start_workers(tmp_path, "again"), tmp_path, "again")
    assert [r["resumed"] for r in results] == [1, 1] and all(r["epochs"] == 3 for r in results)
    for a, b, whole in zip(_weights(tmp_path / "again-0.npz"), _weights(tmp_path / "again-1.npz"),
                           _weights(root / "whole-0.npz")):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, whole, atol=1e-6)   # as if it had never been killed
    assert json.loads((tmp_path / "run" / "run.json").read_text())["complete"] is True
    assert not private.exists()


# ------------------------------------------------------- before TensorFlow
def test_strategy_and_tf_config_are_checked_with_one_line_each(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name in ("auto", "one", "mirrored"):
        distribute.check(name)
    with pytest.raises(DistillError, match="--strategy must be one of auto, one, mirrored, multi-worker, got 'two'"):
        distribute.check("two")
    with pytest.raises(DistillError, match="--strategy multi-worker needs TF_CONFIG"):
        distribute.check("multi-worker")
    for text, line in (("{bad", "TF_CONFIG is not JSON"), ('{"cluster": {}}', 'TF_CONFIG needs "cluster" and "task"'),
                       ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
                        "cluster has ps"),
                       ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}',
                        "task 'worker' 1 is not in the cluster")):
        monkeypatch.setenv("TF_CONFIG", text)
        with pytest.raises(DistillError, match=line):
            distribute.check("multi-worker")
        distribute.check("one")   # one host: TF_CONFIG is not read
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    assert distribute.workers(distribute.tf_config()) == 3 and distribute.resolve("auto") == "multi-worker"
    with pytest.raises(DistillError, match="distill run runs on one host"):
        distribute.check_one_host("auto", "distill run")
    monkeypatch.delenv("TF_CONFIG")
    distribute.check_one_host("auto", "distill run")


def test_the_cli_refuses_multi_worker_without_tf_config_before_tensorflow(tmp_path):
    code = ("import sys; from distill.app import cli; rc = cli.main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    for argv in (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--strategy", "multi-worker"],
                 ["student", "train", "--materials", str(ROOT / "README.md"), "--strategy", "multi-worker",
                  "--runs-dir", str(tmp_path)]):
        child = subprocess.run([sys.executable, "-c", code, *argv], env=_env(), cwd=tmp_path, capture_output=True,
                               text=True, timeout=60)
        assert child.returncode == 2 and child.stderr.startswith("distill: error: --strategy multi-worker needs "
                                                                 "TF_CONFIG"), child.stderr


def test_cuts_split_a_batch_as_evenly_as_its_rows_allow():
    assert distribute.cuts(5, 2) == [(0, 3, 1.0), (3, 5, 1.0)]
    assert distribute.cuts(7, 4) == [(0, 2, 1.0), (2, 4, 1.0), (4, 6, 1.0), (6, 7, 1.0)]
    # Never an empty slice: fewer rows than replicas go to the first, the others get a row at weight 0.
    assert distribute.cuts(1, 2) == [(0, 1, 1.0), (0, 1, 0.0)]
    assert distribute.cuts(3, 4) == [(0, 3, 1.0)] + [(0, 1, 0.0)] * 3
    assert [distribute.fed_rows(n, 4) for n in (1, 3, 4, 9)] == [4, 6, 4, 9]


def test_on_one_device_the_loss_is_the_plain_mean_and_the_trainer_records_where_it_ran(tmp_path):
    import tensorflow as tf

    mean = tf.constant(0.25)
    assert distribute.replica_loss((mean, 4)) is mean
    assert float(distribute.replica_loss((mean, 4, 0.5), (tf.constant(1.0), 2, 0.5))) == 0.625
    placement = distribute.setup("one")
    assert not placement.distributed and placement.chief and distribute.worker_folder(tmp_path, placement) == tmp_path
    with pytest.raises(DistillError, match="--strategy must be one of"):
        from distill.training import Trainer
        Trainer(strategy="gpus")


@pytest.mark.parametrize("cluster, line", [
    ({"worker": ["host1", "host2"]},
     "TF_CONFIG: cluster job 'worker' host 'host1' has no port; write it \"host1:2222\" (host:port, a port free on "
     "that host)"),
    ({"chief": ["host0"], "worker": ["host1:2222"]}, "TF_CONFIG: cluster job 'chief' host 'host0' has no port"),
    ({"worker": ["host1:2222", "host2:http"]},
     "TF_CONFIG: cluster job 'worker' host 'host2:http': port 'http' is not a number from 1 to 65535"),
    ({"worker": "host1:2222"}, "TF_CONFIG: cluster job 'worker' must be a list of \"host:port\" addresses, got "
                               "\"host1:2222\""),
])
def test_tf_config_hosts_without_a_port_are_one_line_before_tensorflow(tmp_path, capsys, monkeypatch, snapshot,
                                                                        cluster, line):
    from distill.app import cli

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: pytest.fail("TensorFlow imported first"))
    before = snapshot(tmp_path)
    assert cli.main(["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic", "--strategy", "multi-worker",
                     "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"distill: error: {line}") and err.count("\n") == 1, err
    assert snapshot(tmp_path) == before
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["host1:2222", "[::1]:2222"]},
                                                "task": {"type": "worker", "index": 1}}))
    distribute.check("multi-worker")   # host:port, IPv6 in brackets included, passes
