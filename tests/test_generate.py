"""materials.generate: the file holds the teacher's logits, in order, bucketed or not, and survives a crash."""

import h5py
import numpy as np
import pytest

from distill.data.dataset import Task
from distill.data.synthetic import marker_task
from distill.errors import DistillError
from materials.generate import generate
from materials.reader import MaterialsFile
from materials.schema import MaterialsError, validate
from materials.split_input import Rows
from materials.teacher import MaterialsTeacher, missing_members
from materials.testing import ToyTeacher

SMALL = dict(window_rows=48, batch_size=16, chunk_rows=32, progress=False, echo=None)


@pytest.fixture(scope="session")
def teacher(materials_teacher_run):
    return materials_teacher_run


@pytest.fixture(scope="session")
def pair_teacher(materials_pair_teacher_run):
    return materials_pair_teacher_run


@pytest.fixture(scope="module")
def task():
    return marker_task(n_train=120, n_dev=40, n_test=30, seed=1)


@pytest.fixture(scope="module")
def reference(teacher, task, tmp_path_factory):
    return generate(teacher, task, tmp_path_factory.mktemp("ref") / "m.h5", **SMALL)


def _contents(path):
    with h5py.File(path, "r") as h5:
        out = {}
        for split in ("train", "dev", "test", "transfer"):
            if split in h5:
                for name, ds in h5[split].items():
                    out[f"{split}/{name}"] = ds.asstr()[:] if ds.dtype.kind == "O" else ds[:]
        out["embedding"] = h5["embedding"][:]
        return out


def _one_by_one(teacher, texts, texts_b=None):
    """The teacher on each text alone, unpadded: independent of how generate batches."""
    enc = teacher.tokenizer.encode(texts, texts_b)
    return np.concatenate([teacher.logits_for_ids(ids[None], seg[None].astype(np.int32), np.ones((1, len(ids)), np.int32))
                           for ids, seg in zip(enc.ids, enc.segments)])


def test_file_holds_the_teachers_logits_in_order(reference, teacher, task):
    validate(reference)
    with MaterialsFile(reference) as m:
        assert m.splits == ["train", "dev", "test"] and not m.is_pair
        assert m.vocab == teacher.tokenizer.vocab and m.max_seq_len == 24
        np.testing.assert_array_equal(m.embedding, teacher.encoder.word_embeddings.numpy())
        assert m.teacher["weights_sha256"] == teacher.weights_sha256 and m.teacher["config"]["hidden_size"] == 32
        assert m.teacher["name"] == "tiny" and m.teacher["run_dir"] == str(teacher.run_dir)
        assert m.tokenizer == {"vocab_sha256": teacher.tokenizer.vocab_sha256, "lowercase": True}
        assert m.dataset_info == {"id": task.name, "sha256": task.sha256}
        for split in ("train", "dev", "test"):
            a = m.arrays(split, ("x", "length", "y", "logits", "ysm", "text"))
            d = task[split]
            assert list(a["text"]) == d.texts
            np.testing.assert_array_equal(a["y"], d.labels)
            enc = teacher.tokenizer.encode(d.texts)
            for row, ids in enumerate(enc.ids):
                assert a["length"][row] == len(ids)
                np.testing.assert_array_equal(a["x"][row, :len(ids)], ids)
                assert not a["x"][row, len(ids):].any()
            np.testing.assert_allclose(a["logits"], _one_by_one(teacher, d.texts), atol=1e-5)
            np.testing.assert_allclose(a["ysm"], np.exp(a["logits"]) / np.exp(a["logits"]).sum(1, keepdims=True),
                                       atol=1e-6)


def test_split_attributes_hold_teacher_accuracy_and_timing(reference, task):
    with MaterialsFile(reference) as m:
        for split in ("train", "dev", "test"):
            attrs = m.split_attrs(split)
            logits = m.arrays(split, ("logits",))["logits"]
            accuracy = float((logits.argmax(1) == task[split].labels).mean())
            assert attrs["teacher_accuracy"] == pytest.approx(accuracy)
            assert attrs["metrics"]["accuracy"] == pytest.approx(accuracy) and attrs["metrics"]["n"] == len(task[split])
            assert attrs["seconds"] > 0 and attrs["it_per_s"] == pytest.approx(len(task[split]) / attrs["seconds"])
            assert attrs["source"]["sha256"] == task[split].sha256
        table = m.metrics_table()
        info = m.describe()
    assert "accuracy" in table and "it/s" in table and table.count("\n") == 5
    assert "teacher        tiny" in info and "train          120 rows" in info


def test_bucketed_and_padded_generation_write_the_same_file(reference, teacher, task, tmp_path):
    padded = generate(teacher, task, tmp_path / "padded.h5", bucket=False, **SMALL)
    a, b = _contents(reference), _contents(padded)
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith(("logits", "ysm")):
            np.testing.assert_allclose(a[key], b[key], atol=1e-5, err_msg=key)   # float noise of other shapes
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_killed_run_resumes_to_the_same_file(reference, teacher, task, tmp_path):
    out = tmp_path / "m.h5"
    commits = []

    def killed_after_two_windows(split, rows):
        commits.append((split, rows))
        if len(commits) == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        generate(teacher, task, out, on_commit=killed_after_two_windows, **SMALL)
    assert commits == [("train", 48), ("train", 96)]
    partial = tmp_path / "m.h5.partial"
    assert not out.exists() and partial.exists()
    validate(partial, require_complete=False)
    with h5py.File(partial, "r") as h5:
        assert h5["train"].attrs["rows"] == 96 and not h5["train"].attrs["complete"]
        assert "dev" not in h5
    resumed = []
    generate(teacher, task, out, on_commit=lambda s, r: resumed.append((s, r)), **SMALL)
    assert resumed == [("train", 120), ("dev", 40), ("test", 30)]   # nothing redone, nothing skipped
    assert out.exists() and not partial.exists()
    a, b = _contents(reference), _contents(out)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_uncommitted_rows_are_dropped_on_resume(reference, teacher, task, tmp_path):
    out = tmp_path / "m.h5"

    def crash(split, rows):
        if rows == 96:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        generate(teacher, task, out, on_commit=crash, **SMALL)
    partial = tmp_path / "m.h5.partial"
    with h5py.File(partial, "r+") as h5:    # a window written but not committed: rows still says 96
        g = h5["train"]
        g.attrs["rows"] = 48
    generate(teacher, task, out, **SMALL)
    a, b = _contents(reference), _contents(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_shards_of_a_real_teacher_merge_into_the_unsharded_file_bit_for_bit(reference, teacher, task, tmp_path):
    """Shards are cut at whole windows, so each batches its rows exactly as the unsharded run does: a BERT's
    logits, which move in the last bits with the shape of their batch, come out identical."""
    from materials.merge import merge
    from materials.shards import Shard

    shards = [generate(teacher, task, tmp_path / "m.h5", shard=Shard(i, 3), **SMALL) for i in (1, 2, 3)]
    assert [p.name for p in shards] == [f"m.shard-{i}-of-3.h5" for i in (1, 2, 3)]
    merged = merge(shards, tmp_path / "m.h5", progress=False, echo=None)
    a, b = _contents(reference), _contents(merged)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)   # exact, not allclose


def test_rerun_on_a_complete_file_does_nothing(reference, teacher, task, tmp_path):
    out = tmp_path / "m.h5"
    generate(teacher, task, out, **SMALL)
    before = out.stat().st_mtime_ns
    said = []
    calls = []
    generate(teacher, task, out, on_commit=lambda s, r: calls.append(s), **{**SMALL, "echo": said.append})
    assert calls == [] and out.stat().st_mtime_ns == before
    assert said == [f"{out}: complete, same teacher, tokenizer and data; nothing to do"]


def test_different_provenance_refuses_unless_overwrite(reference, teacher, tmp_path):
    out = tmp_path / "m.h5"
    first = marker_task(n_train=20, n_dev=10, n_test=10, seed=1)
    other = marker_task(n_train=20, n_dev=10, n_test=10, seed=2)
    generate(teacher, first, out, **SMALL)
    with pytest.raises(MaterialsError, match="made from a different dataset.*--overwrite"):
        generate(teacher, other, out, **SMALL)
    with MaterialsFile(out) as m:              # the refused run changed nothing
        assert list(m.arrays("dev", ("text",))["text"]) == first["dev"].texts
    generate(teacher, other, out, overwrite=True, **SMALL)
    with MaterialsFile(out) as m:
        assert list(m.arrays("dev", ("text",))["text"]) == other["dev"].texts
    assert not (tmp_path / "m.h5.partial").exists()


def test_a_partial_file_of_other_provenance_is_not_resumed(teacher, tmp_path):
    out = tmp_path / "m.h5"
    with pytest.raises(RuntimeError):
        generate(teacher, marker_task(n_train=60, seed=1), out, on_commit=_raise, **SMALL)
    with pytest.raises(MaterialsError, match="different dataset"):
        generate(teacher, marker_task(n_train=60, seed=3), out, **SMALL)


def _raise(split, rows):
    raise RuntimeError("killed")


def test_sentence_pairs(pair_teacher, teacher, tmp_path):
    task = marker_task(n_train=30, n_dev=10, n_test=10, seed=1, pair=True)
    with pytest.raises(MaterialsError, match="single sentences"):
        generate(teacher, task, tmp_path / "pair.h5", **SMALL)
    teacher = pair_teacher
    out = generate(teacher, task, tmp_path / "pair.h5", splits=("train", "dev"), **SMALL)
    with MaterialsFile(out) as m:
        assert m.is_pair and m.splits == ["train", "dev"]
        a = m.arrays("train", ("x", "segment", "length", "logits", "text", "text_b"))
    d = task["train"]
    assert list(a["text"]) == d.texts and list(a["text_b"]) == d.texts_b
    enc = teacher.tokenizer.encode(d.texts, d.texts_b)
    for row, seg in enumerate(enc.segments):
        np.testing.assert_array_equal(a["segment"][row, :len(seg)], seg)
        assert seg.max() == 1 and not a["segment"][row, len(seg):].any()
    np.testing.assert_allclose(a["logits"], _one_by_one(teacher, d.texts, d.texts_b), atol=1e-5)


class StreamedTransfer:
    """A SplitInput the way augmentation will supply one: rows made on the fly, y = -1, length unknown ahead."""

    name = "transfer"
    is_pair = False

    def __init__(self, texts):
        self.texts = texts
        self.source = {"kind": "test-stream", "rows": len(texts)}

        self.events = []

    def windows(self, start, size):
        for lo in range(start, len(self.texts), size):
            chunk = self.texts[lo:lo + size]
            self.events.append(("window", lo))
            yield Rows([t.upper() for t in chunk], None, np.full(len(chunk), -1, np.int32))


def test_a_streamed_transfer_split_can_be_added_later(reference, teacher, task, tmp_path):
    out = tmp_path / "m.h5"
    generate(teacher, task, out, **SMALL)
    transfer = StreamedTransfer(task["train"].texts * 2)
    said = []
    generate(teacher, task, out, extra_inputs=[transfer], on_commit=lambda s, r: transfer.events.append(("commit", r)),
             **{**SMALL, "echo": said.append})
    assert "adding transfer" in said[0]
    # one window in memory at a time: the next is drawn only after the previous one was committed
    assert transfer.events == [e for lo in range(0, 240, 48) for e in (("window", lo), ("commit", min(240, lo + 48)))]
    with MaterialsFile(out) as m:
        assert m.splits == ["train", "dev", "test", "transfer"] and m.rows("transfer") == 240
        attrs = m.split_attrs("transfer")
        a = m.arrays("transfer", ("y", "logits", "text"))
        train_logits = m.arrays("train", ("logits",))["logits"]
    assert (a["y"] == -1).all() and np.isnan(attrs["teacher_accuracy"]) and attrs["metrics"] == {"n": 0}
    assert a["text"][0] == task["train"].texts[0].upper()
    np.testing.assert_allclose(a["logits"][:120], train_logits, atol=1e-5)   # lowercasing tokenizer: same ids


def test_a_corrupted_file_is_not_reused(reference, teacher, task, tmp_path):
    out = tmp_path / "m.h5"
    generate(teacher, task, out, **SMALL)
    with h5py.File(out, "r+") as h5:
        del h5.attrs["dataset"]
    with pytest.raises(MaterialsError, match="root attribute 'dataset' is missing.*--overwrite"):
        generate(teacher, task, out, **SMALL)
    generate(teacher, task, out, overwrite=True, **SMALL)
    validate(out)


def test_overwrite_never_replaces_a_file_that_is_not_materials(teacher, task, tmp_path):
    for content in (b"my notes", _plain_hdf5(tmp_path / "other.h5")):
        out = tmp_path / "mine.h5"
        out.write_bytes(content)
        with pytest.raises(DistillError, match="not a materials file written by distill; it is never replaced"):
            generate(teacher, task, out, overwrite=True, **SMALL)
        assert out.read_bytes() == content and not (tmp_path / "mine.h5.partial").exists()


def _plain_hdf5(path):
    """The bytes of an HDF5 file that is not ours (no distill.materials schema)."""
    with h5py.File(path, "w") as h5:
        h5["data"] = np.arange(3)
    return path.read_bytes()


def test_bad_requests(teacher, task, tmp_path):
    with pytest.raises(MaterialsError, match="no split 'holdout'"):
        generate(teacher, task, tmp_path / "m.h5", splits=("holdout",), **SMALL)
    relabelled = Task(task.name, task.splits, ["bad", "good"])
    with pytest.raises(MaterialsError, match="trained on"):
        generate(teacher, relabelled, tmp_path / "m.h5", **SMALL)
    no_train = Task(task.name, {"dev": task.splits["dev"]}, task.label_names)
    with pytest.raises(MaterialsError, match="no train split to make variants from"):
        generate(teacher, no_train, tmp_path / "m.h5", splits=("dev",), augment=2, **SMALL)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------- the teacher contract
def test_any_object_with_the_teacher_protocol_can_generate(tmp_path):
    from distill.data.synthetic import WORDS, MARKER

    fake = ToyTeacher(sorted({*WORDS, MARKER}))   # numpy only: the protocol and nothing more
    assert isinstance(fake, MaterialsTeacher) and not missing_members(fake)
    task = marker_task(n_train=40, n_dev=10, n_test=10, seed=5)
    out = generate(fake, task, tmp_path / "m.h5", **SMALL)
    with MaterialsFile(out) as m:
        assert m.vocab == fake.vocab and m.max_seq_len == 16
        np.testing.assert_array_equal(m.embedding, fake.word_embeddings())
        assert m.teacher == fake.teacher_provenance()
        assert m.tokenizer == {"vocab_sha256": fake.vocab_sha256, "lowercase": True}
        a = m.arrays("dev", ("x", "length", "logits", "ysm"))
    enc = fake.encode(task["dev"].texts)
    assert fake.vocab.index("[UNK]") not in np.concatenate(enc.ids)     # the hand-written vocab covers the task
    np.testing.assert_array_equal(a["length"], enc.lengths)
    expected = np.stack([fake.logits_for_ids(ids[None], np.zeros((1, len(ids)), np.int32),
                                             np.ones((1, len(ids)), np.int32))[0] for ids in enc.ids])
    np.testing.assert_allclose(a["logits"], expected, atol=1e-6)
    np.testing.assert_allclose(a["ysm"].sum(axis=1), 1.0, atol=1e-6)


def test_a_teacher_run_satisfies_the_protocol_and_an_incomplete_teacher_is_refused(teacher, task, tmp_path):
    assert isinstance(teacher, MaterialsTeacher) and not missing_members(teacher)
    assert teacher.teacher_provenance() == {"name": "tiny", "config": teacher.config.to_dict(),
                                            "weights_sha256": teacher.weights_sha256, "run_dir": str(teacher.run_dir)}
    np.testing.assert_array_equal(teacher.word_embeddings(), teacher.encoder.word_embeddings.numpy())

    class NoEmbedding:
        label_names, is_pair, lowercase, max_seq_len, vocab, vocab_sha256 = ["a", "b"], False, True, 8, [], ""

        def encode(self, texts, texts_b=None): ...

        def logits_for_ids(self, token_ids, segment_ids, padding_mask): ...

    assert not isinstance(NoEmbedding(), MaterialsTeacher)
    with pytest.raises(MaterialsError, match="NoEmbedding .* lacks word_embeddings, teacher_provenance"):
        generate(NoEmbedding(), task, tmp_path / "m.h5", **SMALL)
    assert not list(tmp_path.iterdir())
