"""`--teacher PATH` on the command line: info, eval, finetune, materials generate, bench and run take a model
folder; every bad folder is one line naming the file and the tensor or field, exit 2, mostly before TensorFlow."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from distill.app import cli
from distill.data.synthetic import LABEL_NAMES
from materials.reader import MaterialsFile
from teachers.bert import BertConfig
from teachers.export import export_teacher
from teachers.testing import hf_tensors, tiny_vocab, train_tiny_run, write_hf_folder_raw
from distill.wordpiece import read_vocab

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder-cli")
    train_tiny_run(root / "run")
    export_teacher(root / "run", "hf", root / "finetuned")
    tokens = read_vocab(tiny_vocab(root / "vocab.txt"))
    config = BertConfig("plain", vocab_size=len(tokens), hidden_size=32, num_layers=2, num_heads=2,
                        intermediate_size=64, max_position=64)
    write_hf_folder_raw(root / "pretrained", hf_tensors(config), config, tokens)
    return root


def main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_info_describes_a_folder_and_its_head(root, capsys):
    code, out, _ = main(capsys, "teacher", "info", root / "finetuned")
    assert code == 0
    assert re.search(r"^teacher +finetuned$", out, re.M)
    assert f"weights        Hugging Face folder {root / 'finetuned'} (model.safetensors)" in out
    assert "max_seq_len    32" in out and "classifier     fine-tuned head, 2 labels: negative, positive" in out
    code, out, _ = main(capsys, "teacher", "info", root / "pretrained")
    assert code == 0 and "classifier" not in out and "max_seq_len    64" in out   # the model has 64 positions


def test_eval_takes_a_finetuned_folder_with_a_task(root, capsys, tmp_path):
    code, out, err = main(capsys, "teacher", "eval", root / "finetuned", "--task", "synthetic", "--splits", "dev",
                          "--no-progress", "--json", tmp_path / "e.json")
    assert code == 0 and re.search(r"^dev\s+100\s+(0\.9[5-9]|1\.0)", out, re.M)
    assert err.startswith(f"note: {root / 'finetuned'} evaluated as it is (fine-tuned elsewhere; head outputs")
    assert json.loads((tmp_path / "e.json").read_text())["results"]["dev"]["accuracy"] > 0.95
    code, _, err = main(capsys, "teacher", "eval", root / "finetuned")
    assert code == 2 and err == f"distill: error: --task is needed: the model folder {root / 'finetuned'} records " \
                                "no task\n"
    code, _, err = main(capsys, "teacher", "eval", root / "run", "--label-order", "a,b")
    assert code == 2 and "--label-order and --max-seq-len are for a model folder" in err


def test_finetune_starts_from_a_folder_named_after_it(root, capsys, tmp_path):
    code, out, _ = main(capsys, "teacher", "finetune", "--teacher", root / "pretrained", "--task", "synthetic",
                        "--epochs", "1", "--max-seq-len", "24", "--runs-dir", tmp_path, "--no-progress")
    assert code == 0
    run_dir = Path(re.search(r"teacher run: (\S+)", out).group(1))
    assert run_dir.parent == tmp_path / "teacher" and run_dir.name.startswith("pretrained-synthetic-")
    info = json.loads((run_dir / "run.json").read_text())
    assert info["name"] == "pretrained"
    assert info["provenance"]["weights_source"] == f"Hugging Face folder {root / 'pretrained'} (model.safetensors)"


def test_materials_generate_from_a_folder_in_bf16_records_it(root, capsys, tmp_path):
    code, out, _ = main(capsys, "materials", "generate", "--teacher", root / "finetuned", "--task", "synthetic",
                        "--splits", "test", "--out", tmp_path / "m.h5", "--precision", "bf16", "--no-progress")
    assert code == 0 and out.splitlines()[-1] == f"materials: {tmp_path / 'm.h5'}"
    with MaterialsFile(tmp_path / "m.h5") as m:
        assert m.teacher["precision"] == "bf16" and m.teacher["run_dir"] == str(root / "finetuned")
        assert m.teacher["head_labels"] == LABEL_NAMES and m.label_names == LABEL_NAMES
    code, _, err = main(capsys, "materials", "generate", "--teacher", root / "finetuned", "--task", "synthetic",
                        "--label-order", "good,bad", "--out", tmp_path / "n.h5")
    assert code == 2 and err == ("distill: error: --label-order names the head's outputs ['good', 'bad'] but task "
                                 "synthetic has labels ['negative', 'positive']\n")
    code, _, err = main(capsys, "materials", "generate", "--teacher", root / "pretrained", "--task", "synthetic",
                        "--out", tmp_path / "p.h5")
    assert code == 2 and err.startswith(f"distill: error: {root / 'pretrained'}: no classifier head")


def test_bench_times_a_folder_and_a_run_in_bf16(root, capsys, tmp_path):
    code, out, _ = main(capsys, "bench", "--teacher", root / "finetuned", "--teacher", root / "run", "--task",
                        "synthetic", "--examples", "8", "--batch-sizes", "4", "--modes", "ids", "--repeats", "1",
                        "--precision", "bf16", "--out", tmp_path / "bench.json", "--no-progress")
    assert code == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    assert [(r["model"], r["kind"]) for r in rows] == [("teacher:finetuned/bf16", "teacher"),
                                                       ("teacher:run/bf16", "teacher")]


# ------------------------------------------------------------------ bad folders
def _bad(root, tmp_path, what) -> tuple[Path, list, str]:
    """A copy of the fine-tuned folder with one thing wrong: (folder, argv, what the one line must hold)."""
    import shutil

    folder = shutil.copytree(root / "finetuned", tmp_path / what)
    weights = folder / "model.safetensors"
    config = json.loads((folder / "config.json").read_text())
    argv = ["teacher", "info", folder]
    if what in ("missing-tensor", "extra-tensor", "misshaped-tensor"):
        tensors = load_file(str(weights))
        if what == "missing-tensor":
            del tensors["bert.encoder.layer.1.attention.self.key.bias"]
            expect = [str(weights), "missing: bert.encoder.layer.1.attention.self.key.bias"]
        elif what == "extra-tensor":
            tensors["bert.encoder.layer.1.attention.self.rotary.weight"] = np.zeros((32, 32), np.float32)
            expect = [str(weights), "unexpected: bert.encoder.layer.1.attention.self.rotary.weight"]
        else:
            tensors["bert.embeddings.token_type_embeddings.weight"] = np.zeros((3, 32), np.float32)
            expect = [str(weights), "bert.embeddings.token_type_embeddings.weight", "found [3,32]",
                      "type_vocab_size is 3 in the checkpoint, 2 in config.json"]
        save_file(tensors, str(weights))
    elif what == "vocab-size":
        tokens = (folder / "vocab.txt").read_text().splitlines()
        (folder / "vocab.txt").write_text("".join(t + "\n" for t in tokens + ["extra"]))
        expect = [str(folder / "vocab.txt"), f"{len(tokens) + 1} tokens",
                  f"bert.embeddings.word_embeddings.weight in {weights} has {len(tokens)} rows"]
    elif what == "model-type":
        (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
        expect = [str(folder / "config.json"), "field 'model_type' is 'roberta'; supported: model_type 'bert'"]
    elif what == "bin-only":
        weights.rename(folder / "pytorch_model.bin")
        expect = [str(folder / "pytorch_model.bin"), "safe_serialization=True"]
    else:   # labels that do not match the task
        (folder / "config.json").write_text(json.dumps({**config, "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}))
        argv = ["teacher", "eval", folder, "--task", "synthetic"]
        expect = [f"{folder / 'config.json'}: field 'id2label' names the head's outputs ['LABEL_0', 'LABEL_1'] but "
                  "task synthetic has labels ['negative', 'positive']; if output i is the task's label i, pass "
                  "--label-order negative,positive"]
    return folder, argv, expect


BAD = ["missing-tensor", "extra-tensor", "misshaped-tensor", "vocab-size", "model-type", "bin-only", "labels"]


@pytest.mark.parametrize("what", BAD)
def test_a_bad_folder_is_one_line_naming_the_file_and_the_tensor_or_field(root, tmp_path, capsys, what):
    folder, argv, expect = _bad(root, tmp_path, what)
    code, out, err = main(capsys, *argv)
    assert (code, out) == (2, "") and err.startswith("distill: error: ") and err.count("\n") == 1, err
    for part in expect:
        assert part in err, (part, err)


def test_header_level_mistakes_are_said_before_tensorflow_is_imported(root, tmp_path):
    cases = [_bad(root, tmp_path, what) for what in ("vocab-size", "model-type", "bin-only", "labels")]
    script = ("import json, sys; from distill.app import cli; codes = [cli.main(a) for a in json.loads(sys.argv[1])]; "
              "print(json.dumps([codes, 'tensorflow' in sys.modules]))")
    argvs = [[str(a) for a in argv] for _, argv, _ in cases]
    child = subprocess.run([sys.executable, "-c", script, json.dumps(argvs)], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=120)
    codes, tensorflow = json.loads(child.stdout.strip().splitlines()[-1])
    assert codes == [2] * len(cases) and not tensorflow, child.stderr
    lines = child.stderr.strip().splitlines()
    assert len(lines) == len(cases) and all(line.startswith("distill: error: ") for line in lines)


def test_run_checks_a_folder_teacher_before_anything(root, tmp_path, capsys):
    code, _, err = main(capsys, "run", "--teacher", tmp_path / "nope", "--runs-dir", tmp_path / "runs")
    assert code == 2 and err == f"distill: error: {tmp_path / 'nope'}: no such folder (--teacher wants a Hugging " \
                                "Face BERT folder (config.json) or a Google checkpoint folder (bert_config.json))\n"
    code, _, err = main(capsys, "run", "--teacher", root / "run", "--runs-dir", tmp_path / "runs")
    assert code == 2 and "a teacher run folder, not a model folder" in err
    assert not (tmp_path / "runs").exists()
