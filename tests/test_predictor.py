"""Student export: raw text -> the teacher's token ids -> the same probabilities as the model on ids."""

import json

import numpy as np
import pytest

from distill.errors import DistillError
from materials.reader import MaterialsFile
from materials.testing import write_toy_materials
from students.predictor import StudentPredictor
from students.train import StudentConfig, StudentTrainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    materials = write_toy_materials(root / "toy.h5", n_per_split=48)
    config = StudentConfig(filters=8, batch_size=16, epochs=2, lr=3e-3)
    StudentTrainer(config, progress=False, echo=None).fit(materials, root / "run")
    return materials, root / "run"


def test_text_round_trip_gives_the_models_probabilities_on_the_files_ids(trained):
    materials, run_dir = trained
    with MaterialsFile(materials) as mf:
        arrays = mf.arrays("test", ("x", "length", "text"))
    predictor = StudentPredictor.load(run_dir)
    texts = list(arrays["text"])
    ids = predictor.encode(texts)
    for row, (got, n) in enumerate(zip(ids, arrays["length"])):
        np.testing.assert_array_equal(got, arrays["x"][row, :n], err_msg=f"row {row}")
    labels, probs = predictor.predict(texts, batch_size=7)
    logits = predictor.model({"token_ids": arrays["x"], "length": arrays["length"].astype(np.int32)}).numpy()
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, expected.argmax(1))
    assert probs.shape == (48, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert predictor.engine == "folded"
    _, keras_probs = StudentPredictor.load(run_dir, engine="keras").predict(texts, batch_size=5)
    np.testing.assert_allclose(keras_probs, expected, rtol=1e-5, atol=1e-6)


def test_predictor_carries_what_the_run_recorded(trained):
    _, run_dir = trained
    info = json.loads((run_dir / "run.json").read_text())
    predictor = StudentPredictor.load(run_dir)
    assert predictor.label_names == info["label_names"] == ["negative", "positive"]
    assert predictor.lowercase is True and predictor.max_seq_len == 16 and predictor.task_name == "toy"
    # uppercase text is lowercased as the (uncased) teacher did; truncation keeps [SEP] last
    long_text = " ".join(["WONDERFUL"] + ["w1"] * 40)
    ids = predictor.encode([long_text])[0]
    assert len(ids) == 16 and ids[0] == 2 and ids[-1] == 3 and ids[1] == predictor.vocab.index("wonderful")


def test_student_predictor_reads_text_as_the_teacher_tokenizer_does(tmp_path):
    """The teacher tokenizes from its run's vocab.txt (as `TeacherRun.load` builds it); the student from
    the vocab its own run holds (the materials file's copy). Same ids, token for token: "[MASK]" as
    augmentation writes it, pairs, truncation, upper case."""
    from distill.wordpiece import WordPieceTokenizer, build_vocab, read_vocab, vocab_text

    corpus = ["A gripping, funny film!", "Naïve café owners don't sing", "unbelievably dull 1990s remake",
              "北京 is far", "the the the quick brown fox"]
    teacher_vocab = build_vocab(corpus, tmp_path / "teacher" / "vocab.txt", size=60)
    student_vocab = tmp_path / "student" / "vocab.txt"
    student_vocab.parent.mkdir()
    student_vocab.write_text(vocab_text(read_vocab(teacher_vocab)), encoding="utf-8")
    queries = corpus + ["UNSEEN words: zebra-crossing", "", "   spaces   ", "the [MASK] film", "[MASK]",
                        "A GRIPPING [MASK], [mask] FILM", "the quick[MASK]fox " * 5, "funny " * 30]
    seconds = list(reversed(queries))
    for lowercase in (True, False):
        teacher = WordPieceTokenizer(teacher_vocab, lowercase=lowercase, max_seq_len=12)
        student = StudentPredictor(None, read_vocab(student_vocab), ["no", "yes"], lowercase, 12, engine="keras")
        pair_student = StudentPredictor(None, read_vocab(student_vocab), ["no", "yes"], lowercase, 12,
                                        is_pair=True, engine="keras")
        want = [row.tolist() for row in teacher.encode(queries).ids]
        assert [row.tolist() for row in student.encode(queries)] == want
        assert any(teacher.mask_id in row for row in want)                 # the mask token was exercised
        want = [row.tolist() for row in teacher.encode(queries, seconds).ids]
        assert [row.tolist() for row in pair_student.encode(queries, seconds)] == want
        assert max(len(row) for row in want) == 12 and want[0][-1] == teacher.sep_id   # truncated, [SEP] kept


def test_loading_something_else_fails_with_one_line(tmp_path, trained):
    with pytest.raises(DistillError, match="no run.json"):
        StudentPredictor.load(tmp_path)
    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    (teacher_dir / "run.json").write_text(json.dumps({"kind": "teacher"}))
    with pytest.raises(DistillError, match="not a student run"):
        StudentPredictor.load(teacher_dir)
    predictor = StudentPredictor.load(trained[1])
    with pytest.raises(DistillError, match="row 1"):
        predictor.predict(["fine", 3])
    with pytest.raises(DistillError, match="single sentences"):
        predictor.predict(["fine"], texts_b=["too"])


def test_sentence_pair_student_predicts_pairs(tmp_path):
    materials = write_toy_materials(tmp_path / "pair.h5", n_per_split=16, pair=True)
    StudentTrainer(StudentConfig(filters=4, epochs=1), progress=False, echo=None).fit(materials, tmp_path / "run")
    predictor = StudentPredictor.load(tmp_path / "run")
    with MaterialsFile(materials) as mf:
        arrays = mf.arrays("test", ("x", "length", "text", "text_b"))
    ids = predictor.encode(list(arrays["text"]), list(arrays["text_b"]))
    for row, (got, n) in enumerate(zip(ids, arrays["length"])):
        np.testing.assert_array_equal(got, arrays["x"][row, :n], err_msg=f"row {row}")
    with pytest.raises(DistillError, match="sentence pairs"):
        predictor.predict(["only one"])


def test_predict_cli_names_a_text_that_is_not_valid_unicode(trained, capsys):
    """Bytes that are not UTF-8 on the command line reach Python as lone surrogates: one line, exit 2,
    no label printed for any text."""
    from distill.app import cli

    _, run_dir = trained
    code = cli.main(["predict", str(run_dir), "a fine film", "bad \udcff film"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert err == "distill: error: texts: row 1 is not valid Unicode (a lone surrogate, '\\udcff', at character 4)\n"
