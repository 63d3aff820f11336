"""distill.app.bench: the timing harness, FLOP counts, and `distill bench` over tiny runs and presets."""

import json

import pytest

from distill.app.bench import kim_cnn_flops, markdown_table
from distill.timing import measure
from distill.app.cli import main
from distill.app.report import load_bench


def test_measure_excludes_warm_up_and_reports_the_median():
    import time

    calls = []

    def run_once():
        calls.append(1)
        if len(calls) <= 2:
            time.sleep(0.2)          # warm-up: slow, as tracing is; must not show in the rates
        return 10
    result = measure(run_once, warmup=2, repeats=3)
    assert len(calls) == 5 and result.repeats == 3 and result.examples == 10
    assert result.min > 10 / 0.2 and result.min <= result.median <= result.max


def test_measure_repeats_a_short_pass_until_min_seconds():
    import time

    calls = []

    def run_once():
        calls.append(1)
        time.sleep(0.01)
        return 4
    result = measure(run_once, warmup=1, repeats=2, min_seconds=0.05)
    # a pass takes >= 10 ms: a 50 ms repeat needs 2 to 5 of them (fewer on a loaded machine, never 1)
    assert 1 + 2 * 2 <= len(calls) <= 1 + 2 * 5
    assert result.examples == 4 and result.max <= 4 / 0.01   # each rate: all its passes' examples over their time
    before = len(calls)
    assert measure(run_once, warmup=0, repeats=1).examples == 4 and len(calls) == before + 1   # default: one pass


def test_bert_flops_per_example_by_hand():
    from teachers.bert import BertConfig

    c = BertConfig.preset("tiny")    # 2 layers, hidden 32, intermediate 64
    length = 10
    dense = 2 * (4 * 32 * 32 + 2 * 32 * 64)      # q, k, v, output; the two feed-forward matmuls
    attention = 2 * 2 * length * 32              # scores and weighted values, per token
    assert c.flops_per_token(length) * length == 2 * (dense + attention) * length


def test_kim_cnn_flops_by_hand():
    # widths 2,3; 4 filters; dim 5; 6 tokens -> 5 and 4 positions; 2 labels
    keras = 2 * (5 * 2 * 5 * 4 + 4 * 3 * 5 * 4) + 2 * 2 * 4 * 2
    assert kim_cnn_flops(6, (2, 3), 4, 5, 1, 2, "keras") == keras
    assert kim_cnn_flops(6, (2, 3), 4, 5, 2, 2, "keras") == 2 * (keras - 32) + 32     # two channels
    assert kim_cnn_flops(6, (2, 3), 4, 5, 1, 2, "folded") == 5 * 2 * 4 + 4 * 3 * 4 + 32
    assert kim_cnn_flops(1, (3,), 4, 5, 1, 2, "keras") == 2 * 3 * 5 * 4 + 2 * 4 * 2   # shorter than the window


@pytest.fixture(scope="module")
def student_run(tmp_path_factory, materials_teacher_run):
    from materials.generate import generate
    from distill.data.synthetic import marker_task
    from students.train import StudentConfig, StudentTrainer

    root = tmp_path_factory.mktemp("bench")
    materials = generate(materials_teacher_run, marker_task(n_train=120, n_dev=40, n_test=30), root / "m.h5",
                         progress=False, echo=None)
    config = StudentConfig(filters=8, widths=(2, 3), epochs=1, batch_size=16)
    StudentTrainer(config, progress=False, echo=None).fit(materials, root / "student")
    return root / "student"


def test_bench_cli_times_every_model_on_the_same_texts(materials_teacher_run, student_run, tmp_path, capsys):
    out = tmp_path / "b" / "bench.json"
    code = main(["bench", "--teacher", str(materials_teacher_run.run_dir), "--preset", "tiny",
                 "--student", str(student_run), "--task", "synthetic", "--examples", "12", "--repeats", "2",
                 "--batch-sizes", "1,4", "--out", str(out), "--no-progress"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.read_text())
    rows = summary["rows"]
    assert len(rows) == 3 * 2 * 2
    assert [r["kind"] for r in rows[::4]] == ["teacher", "preset", "student"]
    assert {(r["mode"], r["batch_size"]) for r in rows} == {(m, b) for m in ("text", "ids") for b in (1, 4)}
    assert all(r["it_per_s"]["repeats"] == 2 and r["it_per_s"]["median"] > 0 for r in rows)
    assert all(r["flops_per_example"] > 0 and r["gflops"] > 0 for r in rows)
    preset = rows[4]
    assert preset["random_weights"] and preset["model"] == "tiny" and rows[0]["task"] == "synthetic"
    assert summary["machine"]["cores"] and summary["matmul_peak_gflops"] > 0 and summary["texts"] == "synthetic test"
    assert out.with_suffix(".md").read_text() == markdown_table(summary) and stdout.startswith(markdown_table(summary))
    assert "RANDOM (throughput only)" in stdout
    bench_rows, machine = load_bench(out)          # the report reads what the bench writes
    assert len(bench_rows) == 12 and machine == {**summary["machine"], "matmul_peak_gflops": summary["matmul_peak_gflops"]}


def test_bench_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["bench", "--task", "synthetic"]) == 2
    assert "name at least one" in capsys.readouterr().err
    assert main(["bench", "--preset", "tiny", "--task", "synthetic", "--modes", "text,x"]) == 2
    assert "unknown mode 'x'" in capsys.readouterr().err
    assert main(["bench", "--teacher", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("distill: error:") and "not a run folder" in err and err.count("\n") == 1


def test_markdown_table_keeps_small_flop_counts_readable():
    row = {"model": "student:x", "kind": "student", "random_weights": False, "params": 12_180_000, "mode": "ids",
           "batch_size": 32, "it_per_s": {"median": 21439.7, "min": 20902.0, "max": 22005.6},
           "flops_per_example": 31_200.0, "gflops": 0.669, "peak_fraction": 0.004}
    summary = {"examples": 128, "texts": "t test", "repeats": 3, "warmup": 1, "matmul_peak_gflops": 169.0,
               "machine": {"cpu": "cpu", "cores": 2, "gpus": [], "tensorflow": "2.21.0"}, "rows": [row]}
    last = markdown_table(summary).strip().splitlines()[-1]
    assert last == "| student:x | trained | 12.18M | ids | 32 | 21,439.7 | 20,902.0–22,005.6 | 0.0312 | 0.669 | 0% |"
