"""Tests for teachers.pretrain: packing, learning a pattern, checkpoints as teachers, kills, fine-tuning as it learns."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill.data.corpus import read_corpus
from distill.errors import DistillError
from distill.runfiles import read_run
from teachers.bert import BertConfig
from teachers.finetune import FinetuneConfig
from teachers.pretrain import PretrainConfig, Pretrainer, pack_rows, read_finetunes, train_flops_per_token
from teachers.registry import load_teacher
from teachers.testing import tiny_teacher, tiny_vocab

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    return tiny_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")


PATTERN = ("a wonderful film", "the road the road")


def pattern_corpus(path: Path, n: int = 200) -> Path:
    """Documents of one sentence with a fixed pattern: one of two fixed sentences, drawn at random,
    so every masked token can be told from the others in its row."""
    rng = np.random.default_rng(0)
    lines = [PATTERN[i] for i in rng.integers(0, 2, size=n)]
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pretrainer(**changes):
    config = PretrainConfig(**{"lr": 3e-3, "epochs": 3, "batch_size": 16, "max_seq_len": 24, "save_every": 1,
                               "warmup": 0.1, **changes})
    return Pretrainer(config, progress=False, echo=None)


# ------------------------------------------------------------------ packing
def test_rows_pack_consecutive_sentences_and_never_cross_documents():
    docs = [[np.arange(10, 14), np.arange(20, 23), np.arange(30, 35)], [np.arange(40, 42)]]
    rows = pack_rows(docs, max_seq_len=10, cls_id=2, sep_id=3)
    assert [r.tolist() for r in rows] == [
        [2, 10, 11, 12, 13, 20, 21, 22, 3],   # 4 + 3 fit in 8; the next 5 would not
        [2, 30, 31, 32, 33, 34, 3],
        [2, 40, 41, 3],                       # a new document starts a new row
    ]


def test_a_sentence_longer_than_a_row_is_cut_and_nothing_is_lost():
    rows = pack_rows([[np.arange(100, 125)]], max_seq_len=10, cls_id=2, sep_id=3)
    assert all(len(r) <= 10 for r in rows)
    assert np.concatenate([r[1:-1] for r in rows]).tolist() == list(range(100, 125))


def test_training_flops_count_the_encoder_three_times_and_the_head_at_the_masked_share():
    config = BertConfig.preset("mini")
    h, v = config.hidden_size, config.vocab_size
    assert train_flops_per_token(config, 128, 0.15) == pytest.approx(
        3 * (config.flops_per_token(128) + 0.15 * 2 * (h * h + h * v)))


def test_config_refuses_bad_values_naming_the_option():
    with pytest.raises(DistillError, match="--mask-rate"):
        PretrainConfig(mask_rate=0.0)
    with pytest.raises(DistillError, match="--dev-share"):
        PretrainConfig(dev_share=0.6)
    with pytest.raises(DistillError, match="--save-every"):
        PretrainConfig(save_every=-1)


# ----------------------------------------------------------------- learning
@pytest.fixture(scope="module")
def learned(vocab, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    corpus = read_corpus([str(pattern_corpus(root / "corpus.txt", n=800))])
    trainer = _pretrainer(epochs=4, lr=5e-3)
    trainer.fit(tiny_teacher(vocab, max_seq_len=24), corpus, root / "run")
    return trainer


def test_a_tiny_bert_learns_a_fixed_pattern_to_over_90_percent_masked_accuracy(learned):
    assert learned.history_[-1]["dev_accuracy"] > 0.9
    assert learned.history_[-1]["dev_loss"] < learned.history_[0]["dev_loss"]


def test_the_run_folder_records_each_epoch_and_its_throughput(learned):
    run_dir = learned.run_dir_
    info = read_run(run_dir)
    assert info.kind == "pretrain" and info.complete and info.label_names == []
    assert info.provenance["corpus"][0]["lines"] == 800 and info.provenance["random_init"] is True
    epochs = [json.loads(line) for line in (run_dir / "epochs.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(1, 5))
    assert all(e["tokens_per_s"] > 0 and e["gflop_per_s"] > 0 for e in epochs)
    results = json.loads((run_dir / "train_results.json").read_text())
    assert results["tokens_per_s"] > 0 and results["tokens_per_epoch"] > 0
    assert sorted(p.name for p in run_dir.glob("epoch-*")) == [f"epoch-{k}" for k in range(1, 5)]
    assert not (run_dir / "backup").exists()


def test_a_checkpoint_loads_as_a_teacher_with_the_trained_weights_and_head(learned):
    folder = learned.run_dir_ / "epoch-4"
    teacher = load_teacher(str(folder))
    assert teacher.random_init is False and teacher.classifier_head is None
    for name, variable in learned.model_.encoder.named_weights().items():
        np.testing.assert_array_equal(teacher.encoder.named_weights()[name].numpy(), variable.numpy())
    for name, value in learned.model_.head_tensors().items():
        np.testing.assert_array_equal(teacher.heads[name], value)
    assert teacher.tokenizer.lowercase is True and teacher.tokenizer.max_seq_len == 24


def test_continued_pretraining_starts_from_the_checkpoint_and_its_head(learned, tmp_path):
    teacher = load_teacher(str(learned.run_dir_ / "epoch-4"))
    corpus = read_corpus([str(pattern_corpus(tmp_path / "more.txt", n=100))])
    trainer = _pretrainer(epochs=1, lr=1e-4)
    trainer.fit(teacher, corpus, tmp_path / "more")
    assert read_run(tmp_path / "more").provenance["mlm_head"] == "loaded"
    assert trainer.history_[0]["dev_accuracy"] > 0.8   # it did not start from scratch


# ------------------------------------------------------ fine-tuning as it learns
def test_finetune_every_records_accuracy_against_pretraining_epochs(vocab, tmp_path):
    from distill.data.synthetic import marker_task

    corpus = read_corpus(["task:synthetic"])
    task = marker_task(n_train=96, n_dev=32, n_test=32, seed=1)
    finetune = FinetuneConfig(lr=3e-3, epochs=2, batch_size=16, max_seq_len=24, patience=2)
    config = PretrainConfig(lr=3e-3, epochs=3, batch_size=16, max_seq_len=24, save_every=0)
    trainer = Pretrainer(config, finetune_task=task, finetune_every=2, finetune_config=finetune, progress=False,
                         echo=None)
    trainer.fit(tiny_teacher(vocab, max_seq_len=24), corpus, tmp_path / "run")
    records = read_finetunes(tmp_path / "run")
    assert [r["pretrain_epoch"] for r in records] == [0, 2]
    for record in records:
        assert 0.0 <= record["dev"]["accuracy"] <= 1.0 and record["test"]["n"] == 32
        assert [c["epoch"] for c in record["curve"]] == [1, 2]
        assert read_run(tmp_path / "run" / record["run"]).complete
        assert "report" not in record["dev"]
    assert records[1]["mlm_dev_loss"] < records[0]["mlm_dev_loss"]
    # save_every 0: only the fine-tuned epochs (0 = the start) and the last
    assert sorted(p.name for p in (tmp_path / "run").glob("epoch-*")) == ["epoch-0", "epoch-2", "epoch-3"]


def test_finetune_every_without_a_task_is_refused():
    with pytest.raises(DistillError, match="--task"):
        Pretrainer(PretrainConfig(), finetune_every=2)


# -------------------------------------------------------------------- kills
KILLED_CHILD = """
import os, signal, sys
import keras
from distill.data.corpus import read_corpus
from teachers.pretrain import PretrainConfig, Pretrainer
from teachers.testing import tiny_teacher

class KillMidEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 3:
            os.kill(os.getpid(), signal.SIGKILL)

Pretrainer(PretrainConfig(**eval(sys.argv[4])), progress=False, echo=None, callbacks=[KillMidEpoch()]).fit(
    tiny_teacher(sys.argv[1], max_seq_len=24), read_corpus([sys.argv[2]]), sys.argv[3])
"""
KILL_CONFIG = dict(lr=3e-3, epochs=3, batch_size=16, max_seq_len=24, save_every=1)


def test_a_kill_mid_epoch_resumes_to_the_same_weights(vocab, tmp_path):
    corpus = pattern_corpus(tmp_path / "corpus.txt", n=300)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cut = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(vocab), str(corpus), str(tmp_path / "cut"),
                          repr(KILL_CONFIG)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert cut.returncode == -signal.SIGKILL, cut.stderr[-2000:]     # killed in epoch 2
    assert len((tmp_path / "cut" / "epochs.jsonl").read_text().splitlines()) == 1
    assert not read_run(tmp_path / "cut").complete

    def run(out):   # the same command again, and the run never killed
        return Pretrainer(PretrainConfig(**KILL_CONFIG), progress=False, echo=None).fit(
            tiny_teacher(vocab, max_seq_len=24), read_corpus([str(corpus)]), out)

    resumed, whole = run(tmp_path / "cut"), run(tmp_path / "whole")
    assert resumed.resumed_epochs_ == 1 and whole.resumed_epochs_ == 0
    assert read_run(tmp_path / "cut").complete
    a, b = load_teacher(str(tmp_path / "whole" / "epoch-3")), load_teacher(str(tmp_path / "cut" / "epoch-3"))
    for name, variable in a.encoder.named_weights().items():
        np.testing.assert_array_equal(b.encoder.named_weights()[name].numpy(), variable.numpy())
    for name, value in a.heads.items():
        np.testing.assert_array_equal(b.heads[name], value)
    assert [h["dev_loss"] for h in resumed.history_] == [h["dev_loss"] for h in whole.history_]


# ---------------------------------------------------------------- strategies
MIRRORED = """
import dataclasses, json, sys
from distill import distribute
distribute.split_cpu(2)                       # before TensorFlow starts its devices
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util
from distill.data.corpus import read_corpus
from teachers.bert import BertEncoder
from teachers.pretrain import PretrainConfig, Pretrainer
from teachers.testing import tiny_teacher

vocab, corpus, out = sys.argv[1:4]

def teacher():                                # dropout 0: equal losses need equal (no) masks
    loaded = tiny_teacher(vocab, max_seq_len=24)
    quiet = dataclasses.replace(loaded.config, dropout=0.0)
    encoder = BertEncoder(quiet)
    encoder.set_weights(loaded.encoder.get_weights())
    return dataclasses.replace(loaded, config=quiet, encoder=encoder)

def losses(run_dir):
    events = EventAccumulator(run_dir + "/tensorboard", size_guidance={"tensors": 0}).Reload()
    return [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("batch/loss")]

config = PretrainConfig(lr=3e-3, epochs=2, batch_size=16, max_seq_len=24, save_every=0, clip_norm=0.1)
runs = {}
for strategy in ("one", "mirrored"):
    p = Pretrainer(config, progress=False, echo=None, strategy=strategy).fit(
        teacher(), read_corpus([corpus]), f"{out}/{strategy}")
    runs[strategy] = (losses(f"{out}/{strategy}"), [w.numpy() for w in p.model_.weights],
                      [h["dev_loss"] for h in p.history_])
(a, wa, da), (b, wb, db) = runs["one"], runs["mirrored"]
print("RESULT", json.dumps({"one": a, "mirrored": b, "dev": [da, db],
                            "max_weight_diff": max(float(np.abs(x - y).max()) for x, y in zip(wa, wb))}))
"""


def test_pretraining_under_mirrored_matches_one_device_step_by_step(vocab, tmp_path):
    corpus = pattern_corpus(tmp_path / "corpus.txt", n=210)   # 199 train rows: the last batch has 7 (odd) rows
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    child = subprocess.run([sys.executable, "-c", MIRRORED, str(vocab), str(corpus), str(tmp_path)], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads([line for line in child.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert len(out["one"]) == len(out["mirrored"]) > 0
    assert max(abs(x - y) for x, y in zip(out["one"], out["mirrored"])) < 1e-4
    assert np.allclose(*out["dev"], atol=1e-4) and out["max_weight_diff"] < 1e-4


def test_an_hf_checkpoint_reads_back_the_same_encoder_and_head(learned, vocab, tmp_path):
    from distill.wordpiece import WordPieceTokenizer
    from teachers.pretrain import write_checkpoint

    folder = write_checkpoint(tmp_path / "epoch-4", learned.model_, WordPieceTokenizer(vocab, max_seq_len=24), "hf")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["BertForMaskedLM"] and (folder / "tokenizer.json").is_file()
    teacher = load_teacher(str(folder))
    for name, variable in learned.model_.encoder.named_weights().items():
        np.testing.assert_array_equal(teacher.encoder.named_weights()[name].numpy(), variable.numpy())
    for name, value in learned.model_.head_tensors().items():
        np.testing.assert_array_equal(teacher.heads[name], value)
    assert not list(tmp_path.glob(".*partial*"))   # written whole, its temporary folder gone
