"""Masked-LM pretraining of a BERT of your own, or more pretraining of one you have.

Owns `distill teacher pretrain`: a corpus (`distill.data.corpus`) is
tokenized with the teacher's vocab (a new one from `distill tokenizer train`,
or the pretrained teacher's), packed into rows of up to `max_seq_len` tokens
from consecutive sentences (`[CLS] s1 s2 ... [SEP]`; a document never
shares a row with the next; a sentence longer than a row is cut), and the
encoder is trained on BERT's masked-LM objective (`teachers.mlm`, masks drawn
afresh every epoch) by the training engine (`distill.training`: Keras `fit`,
backups, TensorBoard, `epochs.jsonl`), with AdamW, linear warm-up and linear
decay as in fine-tuning. There is no next-sentence objective: RoBERTa showed it
does not help, and rows packed from consecutive sentences are what it used
instead. A share of the rows (`dev_share`) is held out, with fixed masks, so
the dev MLM loss of each epoch is comparable with the last.

The run folder (`runs/pretrain/<id>/`):
  run.json           kind "pretrain": config, corpus provenance (sha256 per
                     source), the vocab, where the start weights came from
  epoch-K/           the checkpoint after K epochs (every `save_every`, every
                     fine-tuned epoch, the last; `epoch-0` is the start when
                     fine-tuning): a Google checkpoint folder (or an HF one)
                     with its MLM head, loadable as `--teacher runs/pretrain/<id>/epoch-K`
  epochs.jsonl       MLM loss and masked-token accuracy (train and dev),
                     tokens/s and GFLOP/s of each epoch
  finetune.jsonl     one line per fine-tuning (`finetune_every`): the
                     pretraining epoch, dev/test metrics, the validation curve
  finetune/epoch-K/  that fine-tuning's teacher run folder
  train_results.json, tensorboard/, vocab.txt, config.json

A checkpoint is written before its epoch is backed up, into a temporary
folder renamed when whole; fine-tunings run after the backup, and any that a
kill cut short are run when the same command resumes the run, so a killed
run loses at most the epoch it was in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import keras
import numpy as np
import tensorflow as tf

from distill import distribute, training
from distill.data.dataset import Task
from distill.errors import DistillError
from distill.runfiles import (VOCAB_FILE, RunInfo, TokenizerFacts, prepare_run_dir, read_json_or_none,
                              resumed, write_json_atomic, write_run)
from distill.training import Schedule, Trainer, TrainingConfig
from distill.wordpiece import WordPieceTokenizer
from teachers.batching import bucketed_batches
from teachers.finetune import CONFIG_FILE, make_optimizer, make_schedule, placed_encoder
from teachers.mlm import MLM_BATCH_SPEC, BertPretrainer, mask_rows, mlm_batch

if TYPE_CHECKING:
    from distill.data.corpus import Corpus

KIND = "pretrain"
FINETUNE_FILE = "finetune.jsonl"
FORMATS = ("google", "hf")


# ------------------------------------------------------------------- config
@dataclass
class PretrainConfig(TrainingConfig):
    """Hyper-parameters of one pretraining run.

    `lr` 5e-4 suits a small BERT trained from random weights for a few
    thousand steps (ELECTRA-small and similar small-model recipes use 5e-4 to
    1e-3); continuing a pretrained teacher wants about a tenth of that (the
    command's default then is 5e-5). `dropout` is that of a new encoder; a
    loaded teacher keeps its own. `save_every` 0 writes only the epochs that
    are fine-tuned and the last.
    """

    lr: float = 5e-4
    batch_size: int = 32
    epochs: int = 10
    max_seq_len: int = 128
    mask_rate: float = 0.15
    whole_word: bool = False
    warmup: float = 0.06
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    dropout: float = 0.1
    seed: int = 0
    dev_share: float = 0.05
    save_every: int = 1
    eval_batch_size: int = 64
    bucket_window: int = 50

    MONITORS = ("dev_loss", "dev_accuracy")
    OPTIONS = training.options_of("lr", "batch_size", "epochs", "max_seq_len", "mask_rate", "warmup", "weight_decay",
                                  "clip_norm", "dropout", "seed", "dev_share", "save_every")

    def __post_init__(self) -> None:
        self.check_positive_ints("batch_size", "epochs", "max_seq_len", "eval_batch_size", "bucket_window")
        self.check_common()
        if self.max_seq_len < 8:
            self.bad("max_seq_len", "must be at least 8")
        if not 0.0 < self.mask_rate < 1.0:
            self.bad("mask_rate", "must be in (0, 1)")
        if not 0.0 <= self.warmup < 1.0:
            self.bad("warmup", "(a fraction of all steps) must be in [0, 1)")
        if not 0.0 < self.dev_share < 0.5:
            self.bad("dev_share", "must be in (0, 0.5)")
        if not isinstance(self.save_every, int) or self.save_every < 0:
            self.bad("save_every", "must be an int >= 0")
        for name in ("weight_decay", "clip_norm"):
            if getattr(self, name) < 0:
                self.bad(name, "must be >= 0")


# ------------------------------------------------------------------ packing
def pack_rows(documents: list[list[np.ndarray]], max_seq_len: int, cls_id: int, sep_id: int) -> list[np.ndarray]:
    """Rows `[CLS] ... [SEP]` of at most `max_seq_len` ids from each document's sentences (their
    WordPiece ids) taken in order: a sentence goes into the current row if it fits, else starts the
    next; one longer than a row is cut into row-sized pieces."""
    room = max_seq_len - 2
    rows: list[np.ndarray] = []

    def emit(parts):
        if parts:
            rows.append(np.concatenate([[cls_id], *parts, [sep_id]]).astype(np.int32))

    for sentences in documents:
        parts, used = [], 0
        for ids in sentences:
            if not len(ids):
                continue
            if used + len(ids) > room:
                emit(parts)
                parts, used = [], 0
            while len(ids) > room:
                emit([ids[:room]])
                ids = ids[room:]
            if len(ids):
                parts.append(ids)
                used += len(ids)
        emit(parts)
    return rows


def train_flops_per_token(config, seq_len: float, mask_rate: float) -> float:
    """FLOPs of one training step per token: 3 x the forward pass (backward ~2x forward) of the
    encoder at `seq_len`, plus the MLM head at the masked share of the tokens."""
    h = config.hidden_size
    head = 2 * (h * h + h * config.vocab_size)
    return 3.0 * (config.flops_per_token(int(round(seq_len))) + mask_rate * head)


# --------------------------------------------------------------- pretrainer
class Pretrainer(Trainer):
    """Pretrains a loaded teacher's encoder on a corpus and writes a run folder.

    `fit(teacher, corpus, run_dir)` trains the encoder in place. With
    `finetune_task` and `finetune_every` k, a copy of the checkpoint of epoch
    0 (the start) and of every k-th epoch is fine-tuned on that task with
    `finetune_config` (a `teachers.finetune.FinetuneConfig`) and its dev/test
    metrics and validation curve recorded in `finetune.jsonl`. After `fit`:
    `model_` (the BertPretrainer), `history_`, `finetunes_` (the
    finetune.jsonl records), `run_dir_`, `throughput_`, and the trainer's
    usual attributes.
    """

    config_class = PretrainConfig

    def __init__(self, config=None, *, checkpoint_format: str = "google", finetune_task: Task | None = None,
                 finetune_every: int = 0, finetune_config=None, **kwargs):
        super().__init__(config, **kwargs)
        if checkpoint_format not in FORMATS:
            raise DistillError(f"--checkpoint-format {checkpoint_format!r}: known are {', '.join(FORMATS)}")
        if finetune_every and finetune_task is None:
            raise DistillError("--finetune-every needs --task: the task to fine-tune on")
        self.checkpoint_format = checkpoint_format
        self.finetune_task, self.finetune_every = finetune_task, int(finetune_every or 0)
        self.finetune_config = finetune_config

    # ------------------------------------------------------------ public
    def fit(self, teacher, corpus: Corpus, run_dir, overwrite: bool = False) -> "Pretrainer":
        c = self.config
        started = time.perf_counter()
        if c.max_seq_len > teacher.config.max_position:
            raise DistillError(f"--max-seq-len {c.max_seq_len} exceeds teacher {teacher.name}'s "
                               f"{teacher.config.max_position} positions")
        placement = distribute.setup(self.strategy)
        self.run_dir_ = Path(run_dir)
        run_dir = distribute.worker_folder(run_dir, placement)
        tokenizer = WordPieceTokenizer(teacher.vocab_path, lowercase=teacher.tokenizer.lowercase,
                                       max_seq_len=c.max_seq_len)
        provenance = {"corpus": corpus.provenance(), "vocab_sha256": tokenizer.vocab_sha256,
                      "start": teacher.weights_source, "start_weights_sha256": teacher.weights_sha256,
                      "random_init": bool(teacher.random_init)}
        same = {"name": teacher.name, "config": c.to_dict(), "provenance": provenance}
        resuming = prepare_run_dir(run_dir, overwrite, KIND, same_run=same)
        with placement.scope():
            encoder = placed_encoder(teacher.encoder, placement)
        keras.utils.set_random_seed(c.seed)

        t0 = time.perf_counter()
        documents = [tokenizer.pieces(sentences) for sentences in corpus.documents]
        rows = pack_rows(documents, c.max_seq_len, tokenizer.cls_id, tokenizer.sep_id)
        train_rows, dev_rows = _hold_out(rows, c.dev_share, c.seed)
        tokenize_seconds = time.perf_counter() - t0
        lengths = np.fromiter((len(r) for r in train_rows), np.int32, len(train_rows))
        tokens_per_epoch = int(lengths.sum())
        special = (tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.unk_id, tokenizer.mask_id)
        continuation = np.array([t.startswith("##") for t in tokenizer.vocab]) if c.whole_word else None

        def masked(rows_, rng):
            return mask_rows(rows_, rng, len(tokenizer), tokenizer.mask_id, special, c.mask_rate, continuation)

        dev_batch = [mlm_batch(*masked(dev_rows[i:i + c.eval_batch_size], np.random.default_rng([c.seed, 1 << 20, i])))
                     for i in range(0, len(dev_rows), c.eval_batch_size)]

        steps_per_epoch = math.ceil(len(train_rows) / c.batch_size)
        schedule = make_schedule(c, steps_per_epoch * c.epochs)
        with placement.scope():
            model = self.model_ = BertPretrainer(encoder)
            loaded_head = model.set_head(teacher.heads)
            model.compile(optimizer=make_optimizer(model, c, schedule), jit_compile=False)
        flops = train_flops_per_token(teacher.config, lengths.mean(), c.mask_rate)

        info = resumed(RunInfo(
            kind=KIND, name=teacher.name, task=corpus_label(corpus), config=c.to_dict(), label_names=[],
            tokenizer=TokenizerFacts(bool(tokenizer.lowercase), c.max_seq_len, tokenizer.vocab_sha256),
            params=int(model.count_params()), trainable_params=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            provenance={**provenance, "mlm_head": "loaded" if loaded_head else "new"},
            rows={"train": len(train_rows), "dev": len(dev_rows)}, model_file=None, monitor=c.monitor,
            versions={"tensorflow": tf.__version__, "keras": keras.__version__}), resuming)
        info.timings["tokenize_seconds"] = round(tokenize_seconds, 3)
        write_run(run_dir, info)
        if resuming is None:
            write_json_atomic(run_dir / CONFIG_FILE, teacher.config.to_dict())
            shutil.copyfile(teacher.vocab_path, run_dir / VOCAB_FILE)
        self.echo(f"pretraining {teacher.name} ({teacher.config.num_layers} layers, hidden {teacher.config.hidden_size}, "
                  f"vocab {len(tokenizer)}) on {corpus.n_lines:,} lines: {len(train_rows):,} train / {len(dev_rows):,} "
                  f"dev rows of <= {c.max_seq_len} tokens ({tokens_per_epoch:,} tokens an epoch), {c.epochs} epochs x "
                  f"{steps_per_epoch} steps, batch {c.batch_size}, lr {c.lr:g}, {placement.line()} -> {run_dir}")

        forward = tf.function(lambda x: model(x, training=False), input_signature=[MLM_BATCH_SPEC[0]])

        def evaluate():
            return dev_mlm_metrics(forward, dev_batch)

        def batches(epoch):
            rng = np.random.default_rng([c.seed, epoch])
            for order in bucketed_batches(lengths, c.batch_size, rng, c.bucket_window):
                batch_rows = [train_rows[i] for i in order]
                x, y = mlm_batch(*masked(batch_rows, rng))
                yield x, y, len(order), int(lengths[order].sum())

        def train_record(logs):
            seconds = logs.get("train_seconds") or 0.0
            rate = tokens_per_epoch / seconds if seconds > 0 else None
            return {"train_loss": float(logs["loss"]), "train_accuracy": float(logs["accuracy"]),
                    "learning_rate": float(schedule(max(0, model.optimizer.iterations.numpy() - 1))),
                    "tokens_per_s": round(rate, 1) if rate else None,
                    "gflop_per_s": round(rate * flops / 1e9, 2) if rate else None}

        checkpoints = _Checkpoints(self, model, tokenizer, run_dir, c)
        if self.finetune_every:
            if not (run_dir / "epoch-0").is_dir():
                checkpoints.save(0)
            self._finetune_pending(run_dir, {0: evaluate()})

        def on_epoch_end(record):
            if self.on_epoch_end is not None:
                self.on_epoch_end(record)
            self._finetune_pending(run_dir, {record["epoch"]: record})

        try:
            result = training.train(model, batches, MLM_BATCH_SPEC, steps_per_epoch, len(train_rows), evaluate, run_dir,
                                    Schedule(c.epochs, c.monitor, c.monitor_mode, c.epochs, c.min_delta),
                                    train_record=train_record, epoch_line=lambda r: _epoch_line(r, c.epochs),
                                    on_epoch_end=on_epoch_end, callbacks=[checkpoints, *(self.callbacks or [])],
                                    progress=self.progress, echo=self.echo, placement=placement,
                                    unit="tok", work_per_epoch=tokens_per_epoch)
        except KeyboardInterrupt:
            training.mark_interrupted(run_dir, info, False, self.echo)
            raise
        self._finetune_pending(run_dir, {})
        rates = [r["tokens_per_s"] for r in result.history[1:] if r.get("tokens_per_s")] or \
                [r["tokens_per_s"] for r in result.history if r.get("tokens_per_s")]
        rate = float(np.median(rates)) if rates else None
        self.throughput_ = {"tokens_per_s": rate, "train_flops_per_token": round(flops),
                            "gflop_per_s": round(rate * flops / 1e9, 2) if rate else None,
                            "mean_row_tokens": round(float(lengths.mean()), 1), "tokens_per_epoch": tokens_per_epoch}
        last = result.history[-1] if result.history else {}
        eval_results = {"dev": {"mlm_loss": last.get("dev_loss"), "mlm_accuracy": last.get("dev_accuracy"),
                                "rows": len(dev_rows)}}
        train_results = training.finish_run(run_dir, info, result, eval_results, started, mode=c.monitor_mode,
                                            steps_per_epoch=steps_per_epoch, tokenize_seconds=round(tokenize_seconds, 3),
                                            checkpoints=sorted(p.name for p in run_dir.glob("epoch-*")),
                                            strategy=placement.describe(), **self.throughput_)
        self._keep(result, eval_results, train_results)
        self.finetunes_ = read_finetunes(run_dir)
        if not placement.chief:
            shutil.rmtree(run_dir, ignore_errors=True)
        return self

    # ------------------------------------------------------- fine-tuning
    def _finetune_pending(self, run_dir: Path, mlm: dict) -> None:
        """Fine-tune every due checkpoint on disk that has no finetune.jsonl line yet (this epoch's,
        and any a kill left undone); `mlm` holds the epochs' MLM records to copy into the lines."""
        if not self.finetune_every:
            return
        done = {r["pretrain_epoch"] for r in read_finetunes(run_dir)}
        for folder in sorted(run_dir.glob("epoch-*"), key=lambda p: int(p.name.split("-")[1])):
            epoch = int(folder.name.split("-")[1])
            if epoch % self.finetune_every or epoch in done:
                continue
            record = mlm.get(epoch) or _history_record(run_dir, epoch)
            self._finetune(run_dir, folder, epoch, record)

    def _finetune(self, run_dir: Path, folder: Path, epoch: int, mlm_record: dict | None) -> None:
        from teachers.finetune import FinetuneConfig, Finetuner
        from teachers.registry import load_teacher

        config = self.finetune_config or FinetuneConfig()
        self.echo(f"fine-tuning the checkpoint of pretraining epoch {epoch} on {self.finetune_task.name}")
        started = time.perf_counter()
        teacher = load_teacher(str(folder), max_seq_len=config.max_seq_len)
        out = run_dir / "finetune" / folder.name
        tuner = Finetuner(config, progress=self.progress, echo=self.echo).fit(
            teacher, self.finetune_task, out, overwrite=(out / "run.json").is_file() and _complete(out))
        monitor = f"dev_{self.finetune_task.primary_metric}"
        record = {"pretrain_epoch": epoch, "task": self.finetune_task.name, "run": f"finetune/{folder.name}",
                  "best_epoch": tuner.best_epoch_, "dev": _scalars(tuner.eval_results_["dev"]),
                  "test": _scalars(tuner.eval_results_.get("test")),
                  "mlm_dev_loss": (mlm_record or {}).get("dev_loss"),
                  "mlm_dev_accuracy": (mlm_record or {}).get("dev_accuracy"),
                  "curve": [{k: h.get(k) for k in ("epoch", "train_loss", "dev_loss", "dev_accuracy", monitor)}
                            for h in tuner.history_],
                  "seconds": round(time.perf_counter() - started, 1)}
        path = run_dir / FINETUNE_FILE
        cut = path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
        with open(path, "a", encoding="utf-8") as handle:   # after a line a kill cut short, a new line
            handle.write(("\n" if cut else "") + json.dumps(record, default=float) + "\n")
        dev, test = record["dev"].get("accuracy"), (record["test"] or {}).get("accuracy")
        self.echo(f"pretraining epoch {epoch}: fine-tuned dev accuracy {dev:.4f}"
                  + (f", test {test:.4f}" if test is not None else ""))


class _Checkpoints(keras.callbacks.Callback):
    """Writes `epoch-K/` at the end of each due epoch, before the engine backs the epoch up."""

    def __init__(self, trainer: Pretrainer, model: BertPretrainer, tokenizer: WordPieceTokenizer, run_dir: Path,
                 config: PretrainConfig):
        super().__init__()
        self.trainer, self.pretrainer, self.tokenizer, self.run_dir, self.c = trainer, model, tokenizer, run_dir, config

    def due(self, epoch: int) -> bool:
        every, finetune = self.c.save_every, self.trainer.finetune_every
        return epoch == self.c.epochs or bool(every and epoch % every == 0) or bool(finetune and epoch % finetune == 0)

    def on_epoch_end(self, epoch, logs=None):
        if self.due(epoch + 1):
            self.save(epoch + 1)

    def save(self, epoch: int) -> Path:
        return write_checkpoint(self.run_dir / f"epoch-{epoch}", self.pretrainer, self.tokenizer,
                                self.trainer.checkpoint_format)


def write_checkpoint(folder: Path, model: BertPretrainer, tokenizer: WordPieceTokenizer, fmt: str = "google") -> Path:
    """The encoder and its MLM head as a model folder (`fmt` google or hf), written whole or not at all."""
    from teachers import hf
    from teachers.checkpoints import save_google_checkpoint

    folder = Path(folder)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.partial-") as tmp:
        out = Path(tmp) / folder.name
        if fmt == "google":
            save_google_checkpoint(model.encoder, out, tokenizer.vocab_path, heads=model.head_tensors())
            (out / hf.TOKENIZER_CONFIG).write_text(json.dumps(
                {"do_lower_case": tokenizer.lowercase, "model_max_length": tokenizer.max_seq_len}, indent=2) + "\n",
                encoding="utf-8")
        else:
            hf.write_hf_mlm_folder(out, model.encoder, model.head_tensors(), tokenizer.vocab_path, tokenizer.lowercase,
                                   tokenizer.max_seq_len, tokenizer_json=tokenizer.to_json(padding=False))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(out, folder)
    return folder


def new_teacher(preset: str, vocab_dir=None, config: PretrainConfig | None = None):
    """A BERT of size `preset` with random weights, to be pretrained: its vocab the tokenizer folder
    `vocab_dir` (`distill tokenizer train`), else the uncased BERT vocab; vocab_size set to the vocab's,
    dropout to `config.dropout`. Seed first (`keras.utils.set_random_seed`): the weights are drawn here."""
    from distill.wordpiece import read_vocab
    from teachers.bert import BertConfig, BertEncoder
    from teachers.registry import LoadedTeacher, _uncased_bert_vocab, make_tokenizer

    config = config or PretrainConfig()
    if vocab_dir is not None:
        from distill.vocab_training import read_tokenizer_folder

        vocab_path, lowercase = read_tokenizer_folder(vocab_dir)
    else:
        vocab_path, lowercase = _uncased_bert_vocab(), True
    bert = dataclasses.replace(BertConfig.preset(preset), vocab_size=len(read_vocab(vocab_path)),
                               dropout=config.dropout)
    tokenizer = make_tokenizer(Path(vocab_path), lowercase, config.max_seq_len, bert)
    return LoadedTeacher(preset, bert, BertEncoder(bert), tokenizer, Path(vocab_path),
                         f"random initialisation of a new BERT ({preset}), to be pretrained", None, True)


# ------------------------------------------------------------------ helpers
def dev_mlm_metrics(forward: Callable, batches: list) -> dict:
    """Mean cross-entropy and accuracy over every real mask of the held-out batches."""
    loss_sum, hits, count = 0.0, 0.0, 0.0
    for x, y in batches:
        logits = np.asarray(forward(x), np.float64)
        w = x["masked_weights"]
        z = logits - logits.max(-1, keepdims=True)
        log_probs = z - np.log(np.exp(z).sum(-1, keepdims=True))
        picked = np.take_along_axis(log_probs, y[..., None].astype(np.int64), -1)[..., 0]
        loss_sum += float(-(picked * w).sum())
        hits += float(((logits.argmax(-1) == y) * w).sum())
        count += float(w.sum())
    count = max(count, 1.0)
    return {"dev_loss": loss_sum / count, "dev_accuracy": hits / count}


def _hold_out(rows: list, share: float, seed: int) -> tuple[list, list]:
    if len(rows) < 2:
        raise DistillError(f"the corpus packs into {len(rows)} row(s); pretraining needs at least 2 (one held out)")
    order = np.random.default_rng([seed, 7]).permutation(len(rows))
    n_dev = max(1, int(round(share * len(rows))))
    dev = set(order[:n_dev].tolist())
    return [r for i, r in enumerate(rows) if i not in dev], [r for i, r in enumerate(rows) if i in dev]


def corpus_label(corpus: Corpus) -> str:
    """What run.json's `task` field says for a pretraining run: its sources."""
    return " + ".join(s.spec for s in corpus.sources)


def read_finetunes(run_dir) -> list[dict]:
    """finetune.jsonl's records, the last for each pretraining epoch, in epoch order."""
    path = Path(run_dir) / FINETUNE_FILE
    if not path.is_file():
        return []
    by_epoch = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            by_epoch[int(record["pretrain_epoch"])] = record
        except (ValueError, KeyError, TypeError):
            continue   # a line a kill cut short
    return [by_epoch[k] for k in sorted(by_epoch)]


def _history_record(run_dir: Path, epoch: int) -> dict | None:
    from distill.runfiles import EPOCHS_FILE

    path = run_dir / EPOCHS_FILE
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("epoch") == epoch:
                return record
    return None


def _scalars(metrics: dict | None) -> dict | None:
    """A split's metrics without the per-class report and confusion matrix (in the run's own files)."""
    return None if metrics is None else {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}


def _complete(run_dir: Path) -> bool:
    return bool((read_json_or_none(run_dir / "run.json") or {}).get("complete"))


def run_id(label: str, config: PretrainConfig, corpus: Corpus, vocab_sha256: str, start: str, extra=None) -> str:
    """`<label>-<8 hex>` over everything that makes the run: config, corpus, vocab, start weights."""
    payload = json.dumps({"config": config.to_dict(), "corpus": corpus.provenance(), "vocab": vocab_sha256,
                          "start": start, "extra": extra}, sort_keys=True, default=str)
    slug = "".join(ch if ch.isalnum() or ch in "._" else "-" for ch in label).strip("-") or "x"
    return f"{slug}-{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def _epoch_line(r: dict, epochs: int) -> str:
    rate = f", {r['tokens_per_s']:,.0f} tok/s" if r.get("tokens_per_s") else ""
    return (f"epoch {r['epoch']}/{epochs}: MLM train loss {r['train_loss']:.4f} acc {r['train_accuracy']:.4f} | "
            f"dev loss {r['dev_loss']:.4f} acc {r['dev_accuracy']:.4f} | {r['train_seconds']:.1f} s{rate}")


__all__ = ["PretrainConfig", "Pretrainer", "new_teacher", "pack_rows", "write_checkpoint", "read_finetunes", "run_id",
           "train_flops_per_token", "dev_mlm_metrics"]
