"""Tiny teachers and toy tasks for tests (of teachers, materials, CLI).

Owns the recipe that makes a real fine-tuned teacher run in a few seconds:
the `tiny` BERT config (2 layers, hidden 32) over a vocab built from the
synthetic task texts, fine-tuned with a large learning rate on
`marker_task`. Other packages' tests can use `train_tiny_run` to get a
genuine run folder (`TeacherRun.load` works on it) instead of a stand-in.

For "bring your own teacher" tests, `hf_tensors` draws the tensors of a tiny
Hugging Face BERT with numpy alone (PyTorch names and [out, in] layout, a
classifier head when asked) and `write_hf_folder_raw` writes them as a
`save_pretrained` folder (safetensors, sharded or not; vocab.txt or only
tokenizer.json; config.json with id2label; tokenizer_config.json), so loading
is tested against files this toolkit did not write itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np

from distill.data.dataset import Dataset, Task
from distill.data.synthetic import LABEL_NAMES, MARKER, WORDS, marker_task
from teachers.bert import BertConfig, BertEncoder
from teachers.finetune import FinetuneConfig, Finetuner
from teachers.registry import LoadedTeacher
from distill.wordpiece import WordPieceTokenizer, build_vocab, read_vocab

TINY_FINETUNE = FinetuneConfig(lr=3e-3, batch_size=16, epochs=5, max_seq_len=32, patience=5)
"""Fine-tuning that takes the tiny teacher above 95% dev accuracy on `marker_task` (a few seconds)."""


def tiny_vocab(path) -> Path:
    """A vocab.txt for every text of the synthetic tasks (single and pair)."""
    texts = []
    for pair in (False, True):
        for split in marker_task(pair=pair).splits.values():
            texts += list(split.texts) + list(split.texts_b or [])
    return build_vocab(texts, path, size=BertConfig.preset("tiny").vocab_size)


def tiny_teacher(vocab_path, seed: int | None = 0, max_seq_len: int = 32) -> LoadedTeacher:
    """A randomly initialised `tiny` teacher; `seed` (weights and dropout
    seeds) is set first unless None (then the caller's seeding applies)."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    config = dataclasses.replace(BertConfig.preset("tiny"), vocab_size=len(read_vocab(vocab_path)))
    tokenizer = WordPieceTokenizer(vocab_path, lowercase=True, max_seq_len=max_seq_len)
    return LoadedTeacher("tiny", config, BertEncoder(config), tokenizer, Path(vocab_path),
                         "random weights (test)", None, True)


def marker_pair_task(n_train: int = 400, n_dev: int = 100, n_test: int = 100, seed: int = 0) -> Task:
    """A learnable sentence-pair task: label 1 iff the marker word is in the
    *second* sentence. The first sentence holds the marker half of the time
    either way, so a model can only solve it by telling the segments apart."""
    rng = np.random.default_rng(seed)

    def sentence(marker: bool) -> str:
        words = list(rng.choice(WORDS, size=int(rng.integers(3, 10))))
        if marker:
            words.insert(int(rng.integers(0, len(words) + 1)), MARKER)
        return " ".join(words)

    splits = {}
    for name, n in (("train", n_train), ("dev", n_dev), ("test", n_test)):
        labels = rng.integers(0, 2, size=n).astype(np.int32)
        texts = [sentence(bool(rng.random() < 0.5)) for _ in labels]
        texts_b = [sentence(bool(y)) for y in labels]
        splits[name] = Dataset(texts, labels, LABEL_NAMES, name, "marker-pair", texts_b=texts_b)
    return Task("marker-pair", splits, list(LABEL_NAMES), is_pair=True)


def train_tiny_run(run_dir, vocab_path=None, task: Task | None = None, config: FinetuneConfig | None = None,
                   seed: int = 0) -> Finetuner:
    """Fine-tune a tiny teacher on `task` (default `marker_task()`) into `run_dir`."""
    run_dir = Path(run_dir)
    if vocab_path is None:
        vocab_path = tiny_vocab(run_dir.parent / f".{run_dir.name}-vocab.txt")
    config = dataclasses.replace(config or TINY_FINETUNE, seed=seed)
    teacher = tiny_teacher(vocab_path, seed=seed, max_seq_len=config.max_seq_len)
    return Finetuner(config, progress=False, echo=None).fit(teacher, task or marker_task(), run_dir)


# ---------------------------------------------------------- HF folders by hand
def hf_tensors(config: BertConfig, num_labels: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Random tensors of an HF BERT (`BertModel` names; with `num_labels`, `classifier.*` too), float32."""
    rng = np.random.default_rng(seed)
    h, i = config.hidden_size, config.intermediate_size

    def w(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def norm(prefix):
        return {f"{prefix}.weight": (1 + w(h)).astype(np.float32), f"{prefix}.bias": w(h)}

    t = {"embeddings.word_embeddings.weight": w(config.vocab_size, h),
         "embeddings.position_embeddings.weight": w(config.max_position, h),
         "embeddings.token_type_embeddings.weight": w(config.type_vocab_size, h), **norm("embeddings.LayerNorm"),
         "pooler.dense.weight": w(h, h), "pooler.dense.bias": w(h)}
    for n in range(config.num_layers):
        p = f"encoder.layer.{n}."
        for name in ("query", "key", "value"):
            t.update({f"{p}attention.self.{name}.weight": w(h, h), f"{p}attention.self.{name}.bias": w(h)})
        t.update({f"{p}attention.output.dense.weight": w(h, h), f"{p}attention.output.dense.bias": w(h),
                  **norm(f"{p}attention.output.LayerNorm"), f"{p}intermediate.dense.weight": w(i, h),
                  f"{p}intermediate.dense.bias": w(i), f"{p}output.dense.weight": w(h, i),
                  f"{p}output.dense.bias": w(h), **norm(f"{p}output.LayerNorm")})
    if num_labels:
        t.update({"classifier.weight": w(num_labels, h) * 20, "classifier.bias": w(num_labels)})
    return t


def write_hf_folder_raw(path, tensors: dict[str, np.ndarray], config: BertConfig, vocab: list[str],
                        architecture: str | None = None, id2label: list[str] | None = None, prefix: str = "",
                        shards: int = 1, lowercase: bool | None = True, vocab_txt: bool = True,
                        model_max_length: int | None = None) -> Path:
    """Write `tensors` (BertModel names; `prefix` "bert." is prepended to the encoder's) as an HF folder."""
    from safetensors.numpy import save_file

    from distill.wordpiece import vocab_text

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    named = {(name if name.startswith("classifier.") else prefix + name): value for name, value in tensors.items()}
    hf_config = {**config.to_hf_json(), "architectures": [architecture or (
        "BertForSequenceClassification" if "classifier.weight" in named else "BertModel")]}
    if id2label is not None:
        hf_config["id2label"] = {str(k): v for k, v in enumerate(id2label)}
        hf_config["label2id"] = {v: k for k, v in enumerate(id2label)}
    (path / "config.json").write_text(json.dumps(hf_config, indent=2))
    names = sorted(named)
    if shards == 1:
        save_file(named, str(path / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for k in range(shards):
            shard = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
            part = names[k::shards]
            save_file({n: named[n] for n in part}, str(path / shard), metadata={"format": "pt"})
            weight_map.update({n: shard for n in part})
        (path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    if vocab_txt:
        (path / "vocab.txt").write_text(vocab_text(vocab), encoding="utf-8")
    else:
        from distill.wordpiece import WordPieceTokenizer

        (path / "tokenizer.json").write_text(WordPieceTokenizer(vocab, lowercase=bool(lowercase)).to_json())
    tokenizer_config = {"tokenizer_class": "BertTokenizer"}
    if lowercase is not None:
        tokenizer_config["do_lower_case"] = lowercase
    if model_max_length is not None:
        tokenizer_config["model_max_length"] = model_max_length
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return path
