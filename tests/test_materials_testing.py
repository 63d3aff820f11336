"""materials.testing: the toy file is valid, seeded, and learnable by its stated rule."""

import numpy as np

from materials.reader import MaterialsFile
from materials.schema import validate
from materials.testing import write_toy_materials


def test_toy_rule_and_teacher_agree(tmp_path):
    path = write_toy_materials(tmp_path / "t.h5", n_per_split=200, num_labels=3, vocab_size=40, hidden=8)
    validate(path)
    with MaterialsFile(path) as m:
        a = m.arrays("train", ("x", "length", "y", "logits", "ysm", "text"))
        assert m.embedding.shape == (40, 8) and m.label_names == ["class0", "class1", "class2"]
        vocab = m.vocab
    marker_ids = {1: vocab.index("wonderful"), 2: vocab.index("marker2")}
    for row in range(200):
        ids = a["x"][row, :a["length"][row]]
        assert ids[0] == 2 and ids[-1] == 3 and not a["x"][row, a["length"][row]:].any()
        present = [c for c, i in marker_ids.items() if i in ids]
        assert present == ([a["y"][row]] if a["y"][row] else [])
        assert a["text"][row].split() == [vocab[i] for i in ids[1:-1]]
    assert (a["logits"].argmax(1) == a["y"]).mean() > 0.95
    np.testing.assert_allclose(a["ysm"].sum(1), 1.0, rtol=1e-6)
    assert set(np.unique(a["y"])) == {0, 1, 2}


def test_same_seed_same_rows(tmp_path):
    one = write_toy_materials(tmp_path / "a.h5", seed=4)
    two = write_toy_materials(tmp_path / "b.h5", seed=4)
    other = write_toy_materials(tmp_path / "c.h5", seed=5)
    with MaterialsFile(one) as a, MaterialsFile(two) as b, MaterialsFile(other) as c:
        np.testing.assert_array_equal(a.arrays("dev")["x"], b.arrays("dev")["x"])
        assert not np.array_equal(a.arrays("dev")["x"], c.arrays("dev")["x"])
