"""materials.schema: the layout is written consistently and `validate` names the first problem."""

import h5py
import numpy as np
import pytest

from distill.errors import DistillError
from materials import schema
from materials.schema import MaterialsError, validate
from materials.testing import write_toy_materials


@pytest.fixture
def toy(tmp_path):
    return write_toy_materials(tmp_path / "toy.h5", n_per_split=40, chunk_rows=16)


def _corrupt(path, change):
    with h5py.File(path, "r+") as h5:
        change(h5)


def test_toy_file_is_valid_and_has_the_design_layout(toy):
    validate(toy)
    with h5py.File(toy, "r") as h5:
        assert h5.attrs["schema"] == schema.SCHEMA
        assert set(schema.ROOT_ATTRS) <= set(h5.attrs)
        for split in ("train", "dev", "test"):
            g = h5[split]
            assert set(g) == {"x", "length", "y", "logits", "ysm", "text"}
            assert g["x"].dtype == np.int32 and g["x"].shape == (40, h5.attrs["max_seq_len"])
            assert g["length"].dtype == np.int16 and g["y"].dtype == np.int32
            assert g["x"].chunks[0] == g["logits"].chunks[0] == 16
            assert g["x"].compression == "gzip"
            assert bool(g.attrs["complete"]) and g.attrs["rows"] == 40


def test_missing_root_attribute_is_named(toy):
    _corrupt(toy, lambda h5: h5.attrs.__delitem__("teacher"))
    with pytest.raises(MaterialsError, match="root attribute 'teacher' is missing"):
        validate(toy)


def test_unknown_schema_version_is_named(toy):
    _corrupt(toy, lambda h5: h5.attrs.__setitem__("schema", "distill.materials/9"))
    with pytest.raises(MaterialsError, match="unknown schema version 'distill.materials/9'"):
        validate(toy)


def test_truncated_dataset_is_named(toy):
    _corrupt(toy, lambda h5: h5["dev"]["logits"].resize(39, axis=0))
    with pytest.raises(MaterialsError, match=r"/dev/logits has 39 rows but the split's 'rows' attribute says 40"):
        validate(toy)


def test_missing_dataset_is_named(toy):
    _corrupt(toy, lambda h5: h5["test"].__delitem__("ysm"))
    with pytest.raises(MaterialsError, match="/test/ysm is missing"):
        validate(toy)


def test_wrong_dtype_is_named(toy):
    def change(h5):
        y = h5["train"]["y"][:]
        del h5["train"]["y"]
        h5["train"].create_dataset("y", data=y.astype(np.float32))
    _corrupt(toy, change)
    with pytest.raises(MaterialsError, match="/train/y must be int32, got float32"):
        validate(toy)


def test_wrong_width_is_named(toy):
    _corrupt(toy, lambda h5: h5.attrs.__setitem__("max_seq_len", 32))
    with pytest.raises(MaterialsError, match=r"/train/x has shape \(40, 16\)"):
        validate(toy)


def test_incomplete_split_is_named_but_allowed_when_resuming(toy):
    _corrupt(toy, lambda h5: h5["dev"].attrs.__setitem__("complete", False))
    with pytest.raises(MaterialsError, match="/dev: not complete"):
        validate(toy)
    validate(toy, require_complete=False)


def test_impossible_values_are_named_with_their_row(toy):
    def change(h5):
        h5["train"]["y"][7] = 5
    _corrupt(toy, change)
    with pytest.raises(MaterialsError, match="/train/y row 7 is 5"):
        validate(toy)


def test_not_hdf5_and_missing_file(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(MaterialsError, match="not a readable HDF5 file"):
        validate(junk)
    with pytest.raises(DistillError, match="no such materials file"):
        validate(tmp_path / "absent.h5")


def test_pair_files_need_segment_in_every_split(tmp_path):
    path = write_toy_materials(tmp_path / "pair.h5", n_per_split=8, pair=True)
    validate(path)
    _corrupt(path, lambda h5: h5["dev"].__delitem__("segment"))
    with pytest.raises(MaterialsError, match="/dev/segment is missing"):
        validate(path)


def test_rows_past_the_rows_attribute_are_dropped_on_truncate(tmp_path):
    path = write_toy_materials(tmp_path / "toy.h5", n_per_split=10)
    with h5py.File(path, "r+") as h5:
        for name in h5["train"]:             # as if a writer died after writing, before committing
            h5["train"][name].resize(14, axis=0)
    with pytest.raises(MaterialsError, match="has 14 rows"):
        validate(path)                       # a complete split must hold exactly `rows`
    _corrupt(path, lambda h5: h5["train"].attrs.__setitem__("complete", False))
    validate(path, require_complete=False)   # a split being written may hold more
    with h5py.File(path, "r+") as h5:
        schema.truncate_split(h5["train"])
        assert all(h5["train"][name].shape[0] == 10 for name in h5["train"])


def test_append_rows_commits_rows_and_timing(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as h5:
        schema.create_file(h5, task="t", label_names=["a", "b"], max_seq_len=4,
                           teacher={"name": "n", "config": {}, "weights_sha256": None},
                           tokenizer={"vocab_sha256": "v", "lowercase": True}, dataset={"id": "d", "sha256": "s"},
                           embedding=np.zeros((6, 2), np.float32), vocab=list("abcdef"))
        g = schema.create_split(h5, "train", pair=False, source={"split": "train"})
        block = {"x": np.ones((3, 4), np.int32), "length": np.full(3, 4, np.int16),
                 "y": np.zeros(3, np.int32), "logits": np.zeros((3, 2), np.float32),
                 "ysm": np.full((3, 2), 0.5, np.float32), "text": ["a", "b", "c"]}
        schema.append_rows(g, block, seconds=1.0)
        schema.append_rows(g, block, seconds=2.0)
        assert g.attrs["rows"] == 6 and g.attrs["seconds"] == 3.0 and g.attrs["it_per_s"] == 2.0
        with pytest.raises(MaterialsError, match="lacks text"):
            schema.append_rows(g, {k: v for k, v in block.items() if k != "text"})
        with pytest.raises(MaterialsError, match="unknown split"):
            schema.create_split(h5, "holdout", pair=False, source={})
