"""materials.reader: metadata, arrays, and tf.data batches that hold every row exactly once per epoch."""

import h5py
import numpy as np
import pytest

from materials.reader import MaterialsFile
from materials.schema import MaterialsError
from materials.testing import write_toy_materials


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    # 100 rows in chunks of 16: the last chunk is partial, batches of 12 straddle chunks.
    return write_toy_materials(tmp_path_factory.mktemp("m") / "toy.h5", n_per_split=100, chunk_rows=16,
                               transfer_rows=30)


def _collect(ds):
    keys, widths = [], []
    for features, targets in ds:
        tokens, length = features["token_ids"].numpy(), features["length"].numpy()
        assert tokens.shape[1] == length.max()          # padded per batch to its longest row
        widths.append(tokens.shape[1])
        keys.extend(targets["logits"].numpy()[:, 0].tolist())
    return keys, widths


def test_metadata(toy):
    with MaterialsFile(toy) as m:
        assert m.splits == ["train", "dev", "test", "transfer"]
        assert m.label_names == ["negative", "positive"] and m.num_labels == 2
        assert m.vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        assert m.embedding.shape == (50, 16) and m.embedding.dtype == np.float32
        assert m.max_seq_len == 16 and m.rows("train") == 100 and m.rows("transfer") == 30
        assert not m.is_pair and m.lowercase and m.task == "toy"
        assert m.split_attrs("dev")["complete"] is True
        assert (m.arrays("transfer", ("y",))["y"] == -1).all()
        with pytest.raises(MaterialsError, match="no split 'holdout'"):
            m.rows("holdout")


@pytest.mark.parametrize("in_memory", [True, False])
def test_every_row_exactly_once_per_epoch(toy, in_memory):
    with MaterialsFile(toy) as m:
        want = m.arrays("train", ("logits",))["logits"][:, 0]
        assert len(np.unique(want)) == len(want)        # the first logit identifies a row
        ds = m.dataset("train", batch_size=12, shuffle=True, seed=3, in_memory=in_memory, shuffle_chunks=2)
        first, widths = _collect(ds)
        second, _ = _collect(ds)
    assert sorted(first) == sorted(want.tolist()) and len(first) == 100
    assert sorted(second) == sorted(want.tolist())
    assert first != second and first != want.tolist()  # shuffled, and differently each epoch
    assert min(widths) < 16                              # short batches are not padded to max_seq_len


@pytest.mark.parametrize("in_memory", [True, False])
def test_unshuffled_batches_equal_the_arrays(toy, in_memory):
    with MaterialsFile(toy) as m:
        arrays = m.arrays("dev")
        ds = m.dataset("dev", batch_size=32, targets=("y", "ysm"), in_memory=in_memory)
        batches = list(ds.as_numpy_iterator())
    assert [len(f["length"]) for f, _ in batches] == [32, 32, 32, 4]
    start = 0
    for features, targets in batches:
        n, width = features["token_ids"].shape
        np.testing.assert_array_equal(features["token_ids"], arrays["x"][start:start + n, :width])
        assert not arrays["x"][start:start + n, width:].any()   # nothing but padding was cut
        np.testing.assert_array_equal(targets["y"], arrays["y"][start:start + n])
        np.testing.assert_array_equal(targets["ysm"], arrays["ysm"][start:start + n])
        assert set(targets) == {"y", "ysm"} and features["token_ids"].dtype == np.int32
        start += n
    assert start == 100


@pytest.mark.parametrize("in_memory", [True, False])
def test_drop_remainder(toy, in_memory):
    with MaterialsFile(toy) as m:
        sizes = [len(f["length"]) for f, _ in m.dataset("train", batch_size=32, drop_remainder=True,
                                                       shuffle=True, in_memory=in_memory)]
    assert sizes == [32, 32, 32]


def test_auto_path_follows_the_memory_limit(toy):
    with MaterialsFile(toy) as m:
        assert m.nbytes("train", ("x", "length")) == 100 * 16 * 4 + 100 * 2
        small = m.dataset("train", memory_limit=10)      # streams
        big = m.dataset("train")                         # in memory
        assert sorted(_collect(small)[0]) == sorted(_collect(big)[0])


def test_streaming_dataset_outlives_the_file_object(toy):
    with MaterialsFile(toy) as m:
        ds = m.dataset("test", batch_size=50, in_memory=False)
    assert sum(len(f["length"]) for f, _ in ds) == 100


def test_pair_files_carry_segment_ids(tmp_path):
    path = write_toy_materials(tmp_path / "pair.h5", n_per_split=20, pair=True)
    with MaterialsFile(path) as m:
        assert m.is_pair
        arrays = m.arrays("train", ("segment", "text", "text_b"))
        for in_memory in (True, False):
            features, _ = next(iter(m.dataset("train", batch_size=20, in_memory=in_memory)))
            width = features["token_ids"].shape[1]
            np.testing.assert_array_equal(features["segment_ids"].numpy(), arrays["segment"][:, :width])
    assert isinstance(arrays["text_b"][0], str)


def test_bad_requests_and_bad_files(toy, tmp_path):
    with MaterialsFile(toy) as m:
        with pytest.raises(MaterialsError, match="unknown target 'probs'"):
            m.dataset("train", targets=("probs",))
        with pytest.raises(MaterialsError, match="only in sentence-pair files"):
            m.arrays("train", ("segment",))
    broken = write_toy_materials(tmp_path / "broken.h5", n_per_split=8)
    with h5py.File(broken, "r+") as h5:
        del h5["train"]["logits"]
    with pytest.raises(MaterialsError, match="/train/logits is missing"):
        MaterialsFile(broken)


@pytest.mark.parametrize("in_memory", [True, False])
def test_the_order_is_the_seeds_and_only_the_seeds(toy, in_memory):
    def order(seed):
        with MaterialsFile(toy) as m:
            return _collect(m.dataset("train", batch_size=12, shuffle=True, seed=seed, in_memory=in_memory,
                                      shuffle_chunks=2))[0]

    assert order(5) == order(5) and order(5) != order(6)


@pytest.mark.parametrize("in_memory", [True, False])
def test_bucketed_batches_hold_every_row_once_with_less_padding(toy, in_memory):
    with MaterialsFile(toy) as m:
        want = m.arrays("train", ("logits", "length"))
        ds = m.dataset("train", batch_size=10, shuffle=True, seed=1, in_memory=in_memory, shuffle_chunks=4,
                       bucket=True, bucket_batches=5)
        batches = list(ds.as_numpy_iterator())
        plain = list(m.dataset("train", batch_size=10, shuffle=True, seed=1, in_memory=in_memory,
                               shuffle_chunks=4).as_numpy_iterator())
        again = [t["logits"][:, 0].tolist() for _, t in m.dataset(
            "train", batch_size=10, shuffle=True, seed=1, in_memory=in_memory, shuffle_chunks=4, bucket=True,
            bucket_batches=5).as_numpy_iterator()]
    got = [v for _, t in batches for v in t["logits"][:, 0]]
    assert sorted(got) == sorted(want["logits"][:, 0].tolist()) and len(got) == 100
    assert again == [t["logits"][:, 0].tolist() for _, t in batches]   # the same seed, the same batches
    for features, targets in batches:   # each row's features stay with its own targets
        rows = [int(np.flatnonzero(want["logits"][:, 0] == v)[0]) for v in targets["logits"][:, 0]]
        np.testing.assert_array_equal(features["length"], want["length"][rows])
    def padding(bs):
        return sum(f["token_ids"].size - f["length"].sum() for f, _ in bs)

    assert padding(batches) < padding(plain)
