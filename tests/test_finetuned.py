"""teachers.finetuned: a fine-tuned folder used as it is gives the materials its weights give as a run; heads
are matched to the task by name; a Google run_classifier.py checkpoint works; `distill run` skips fine-tuning."""

import json

import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import load_file, save_file

from distill.data.synthetic import marker_task
from distill.errors import DistillError
from distill.sources import sha256_file
from materials.generate import generate
from materials.reader import MaterialsFile
from teachers.export import export_teacher
from teachers.finetuned import import_finetuned, load_finetuned, open_teacher
from teachers.run import TeacherRun
from teachers.testing import train_tiny_run

TASK = marker_task()
FIELDS = ("x", "length", "y", "logits", "ysm", "text")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetuned")
    train_tiny_run(root / "run")
    for fmt in ("hf", "google"):
        export_teacher(root / "run", fmt, root / fmt)
    return root


@pytest.fixture(scope="module")
def run(root):
    return TeacherRun.load(root / "run")


def materials(teacher, path):
    out = generate(teacher, TASK, path, progress=False, echo=None)
    with MaterialsFile(out) as m:
        return {s: m.arrays(s, FIELDS) for s in m.splits}, m.teacher, m.embedding, m.vocab


@pytest.mark.parametrize("fmt", ["hf", "google"])
def test_materials_from_a_finetuned_folder_are_the_runs_materials(root, run, fmt, tmp_path):
    want, _, embedding, vocab = materials(run, tmp_path / "run.h5")
    teacher = load_finetuned(root / fmt, TASK)
    got, provenance, got_embedding, got_vocab = materials(teacher, tmp_path / f"{fmt}.h5")
    assert set(got) == set(want) == {"train", "dev", "test"}
    for split in want:
        for field in FIELDS:
            np.testing.assert_array_equal(got[split][field], want[split][field], err_msg=f"{split}/{field}")
    np.testing.assert_array_equal(got_embedding, embedding)
    assert got_vocab == vocab
    # the provenance names the folder and its weights, and which output is which label
    assert provenance["run_dir"] == str((root / fmt).resolve()) and provenance["name"] == fmt
    assert provenance["head_labels"] == ["negative", "positive"] and "precision" not in provenance
    if fmt == "hf":
        assert provenance["weights_sha256"] == sha256_file(root / "hf" / "model.safetensors")
    assert len(provenance["weights_sha256"]) == 64


def test_head_outputs_are_matched_to_the_task_by_name(root, run, tmp_path):
    """A folder whose head lists the labels the other way round scores them the same."""
    import shutil

    swapped = tmp_path / "swapped"
    shutil.copytree(root / "hf", swapped)
    tensors = load_file(str(swapped / "model.safetensors"))
    for name in ("classifier.weight", "classifier.bias"):
        tensors[name] = tensors[name][::-1].copy()
    save_file(tensors, str(swapped / "model.safetensors"), metadata={"format": "pt"})
    config = json.loads((swapped / "config.json").read_text())
    config["id2label"] = {"0": "positive", "1": "negative"}
    (swapped / "config.json").write_text(json.dumps(config))
    texts = TASK["test"].texts
    teacher = load_finetuned(swapped, TASK)
    np.testing.assert_array_equal(teacher.predict_logits(texts), run.predict_logits(texts))
    assert teacher.provenance_extra == {"head_labels": ["positive", "negative"]}
    # --label-order wins over id2label: said the other way, the columns swap
    flipped = load_finetuned(swapped, TASK, label_order=["negative", "positive"])
    np.testing.assert_array_equal(flipped.predict_logits(texts), run.predict_logits(texts)[:, ::-1])


def test_a_head_without_label_names_needs_them_said(root, run, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(root / "google", bare)
    (bare / "label_names.json").unlink()
    with pytest.raises(DistillError) as error:
        load_finetuned(bare, TASK)
    assert str(error.value) == (
        f"{bare}: the classifier head's 2 outputs have no label names; say which output is which with "
        "--label-order (task synthetic has negative, positive; e.g. --label-order negative,positive if output i is "
        "its label i)")
    teacher = load_finetuned(bare, TASK, label_order=["negative", "positive"])
    texts = TASK["test"].texts
    np.testing.assert_array_equal(teacher.predict_logits(texts), run.predict_logits(texts))


def test_labels_that_do_not_match_the_task_list_both(root):
    three = marker_task(n_train=4, n_dev=4, n_test=4)
    three = type(three)(three.name, three.splits, ["negative", "neutral", "positive"], three.is_pair)
    with pytest.raises(DistillError) as error:
        load_finetuned(root / "hf", three)
    assert str(error.value) == (f"{root / 'hf' / 'config.json'}: field 'id2label' names the head's outputs "
                                "['negative', 'positive'] but task synthetic has labels ['negative', 'neutral', "
                                "'positive']")
    with pytest.raises(DistillError, match=r"--label-order names 3 labels \(a, b, c\) but the classifier head in "):
        load_finetuned(root / "hf", TASK, label_order=["a", "b", "c"])


def test_a_run_classifier_checkpoint_with_loss_scoped_head_and_training_state(root, run, tmp_path):
    """Google's run_classifier.py output folder (model.ckpt-N, Adam slots, global_step; a head scoped
    bert/loss/ as some copies write it), with the pre-trained model's bert_config.json and vocab.txt copied in."""
    import shutil

    folder = tmp_path / "run_classifier"
    folder.mkdir()
    tensors = {name: v.numpy() for name, v in run.encoder.named_weights().items()}
    weights, bias = run.model.head_weights()
    tensors.update({"bert/loss/output_weights": weights, "bert/loss/output_bias": bias,
                    "global_step": np.array(300, np.int64),
                    "bert/pooler/dense/kernel/adam_m": np.zeros((32, 32), np.float32)})
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(folder / "model.ckpt-300"), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tensors[n] for n in names])
    (folder / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-300"\n')
    for name in ("bert_config.json", "vocab.txt"):
        shutil.copyfile(root / "google" / name, folder / name)
    teacher = load_finetuned(folder, TASK, label_order=["negative", "positive"])
    texts = TASK["test"].texts
    np.testing.assert_array_equal(teacher.predict_logits(texts), run.predict_logits(texts))
    assert teacher.info.provenance["weights_source"] == f"Google checkpoint {(folder / 'model.ckpt-300').resolve()}"


def test_a_pretrained_folder_has_no_head_to_use(root, tmp_path):
    from teachers.checkpoints import save_hf_safetensors

    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("vocab.txt", "tokenizer_config.json"):
        (plain / name).write_bytes((root / "hf" / name).read_bytes())
    config = json.loads((root / "hf" / "config.json").read_text())
    config.pop("id2label")
    (plain / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    save_hf_safetensors(TeacherRun.load(root / "run").encoder, plain / "model.safetensors")
    with pytest.raises(DistillError) as error:
        load_finetuned(plain, TASK)
    assert str(error.value) == (f"{plain}: no classifier head (a pre-trained model, not a fine-tuned one); fine-tune "
                                f"it first: distill teacher finetune --teacher {plain} --task synthetic")


def test_open_teacher_takes_a_run_or_a_folder(root):
    assert open_teacher(root / "run").run_dir == root / "run"
    with pytest.raises(DistillError, match="--label-order and --max-seq-len are for a model folder"):
        open_teacher(root / "run", label_order=["a", "b"])
    with pytest.raises(DistillError, match=r"--task is needed: the model folder .* records no task"):
        open_teacher(root / "hf")
    with pytest.raises(DistillError, match="no such run folder"):
        open_teacher(root / "nowhere")
    with pytest.raises(DistillError, match="no run.json; not a run folder"):
        open_teacher(root / "run" / "tensorboard", TASK)


def test_an_imported_folder_is_a_complete_teacher_run_without_training(root, run, tmp_path):
    results = import_finetuned(root / "hf", TASK, tmp_path / "imported", echo=None)
    again = TeacherRun.load(tmp_path / "imported")
    assert again.complete and again.info.epochs_run == 0 and again.teacher_name == "hf"
    assert again.info.provenance["pretrained_weights_sha256"] == sha256_file(root / "hf" / "model.safetensors")
    texts = TASK["test"].texts
    np.testing.assert_array_equal(again.predict_logits(texts), run.predict_logits(texts))
    saved = json.loads((tmp_path / "imported" / "eval_results.json").read_text())
    assert set(saved) == {"dev", "test"} and saved["dev"]["accuracy"] == results["dev"]["accuracy"] > 0.95


def test_distill_run_skips_fine_tuning_for_a_finetuned_folder(root, run, tmp_path):
    from distill.app.pipeline import PipelineConfig, run as run_pipeline

    task = marker_task(n_train=40, n_dev=20, n_test=20)
    config = PipelineConfig(task="synthetic", teacher=str(root / "hf"), max_seq_len=32, augment=0, losses=("mse",),
                            seeds=1, student_epochs=1, presets=(), bench_examples=8, bench_batch_sizes=(4,),
                            bench_repeats=1, explain_sample=4, runs_dir=str(tmp_path / "runs"))
    lines = []
    result = run_pipeline(config=config, task_data=task, echo=lines.append, progress=False)
    assert f"[teacher] {root / 'hf'} is already fine-tuned (classifier head, 2 outputs: negative, positive): " \
           "skipping fine-tuning; it is evaluated on dev/test and used as it is" in lines
    assert result.teacher.name.startswith("hf-synthetic-")
    info = json.loads((result.teacher / "run.json").read_text())
    assert info["epochs_run"] == 0 and info["complete"] and not (result.teacher / "epochs.jsonl").exists()
    with MaterialsFile(result.materials) as m:
        logits = m.arrays("test", ("logits",))["logits"]
    np.testing.assert_allclose(logits, run.predict_logits(task["test"].texts), atol=1e-6)
    again = run_pipeline(config=config, task_data=task, echo=lines.append, progress=False)
    assert not any(stage.ran for stage in again.stages)
