"""`distill run --config exp.toml` / `--print-config` / experiment.toml: one file for a whole experiment.

The file round-trips (printed, read back: the same PipelineConfig, every stage reused), options typed on
the command line beat it, a bad file is one line naming its line and key and writes nothing, and the
one table of options (`distill.app.experiment.OPTIONS`) agrees with the parser and with PipelineConfig.
"""

import argparse
import dataclasses
import tomllib

import pytest

from distill.app import cli
from distill.app.cli.run import pipeline_config
from distill.app.experiment import BY_FIELD, EXPERIMENT_FILE, OPTIONS, dumps, read_experiment
from distill.app.pipeline import PipelineConfig, run
from distill.data.synthetic import marker_task
from distill.errors import DistillError

TINY = """\
[task]
name = "synthetic"

[teacher]
name = "tiny"
epochs = 1
lr = 0.001
max_seq_len = 24

[materials]
augment = 1

[students]
losses = ["mse"]
seeds = 1
epochs = 1
transfer_epochs = 1

[bench]
presets = []
examples = 8
batch_sizes = [4]
repeats = 1

[explain]
sample = 4

[run]
runs_dir = "{runs}"
"""


def parse(*argv):
    return cli.build_parser().parse_args(["run", *argv])


def run_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["run"]


def no_tensorflow(monkeypatch):
    """A check that gets as far as importing TensorFlow has gone too far."""
    def refuse():
        raise AssertionError("must not import TensorFlow")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", refuse)


# ---------------------------------------------------------------- round trip
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny pipeline run from a config file: (folder, the file, its config, the result)."""
    root = tmp_path_factory.mktemp("experiment")
    exp = root / "exp.toml"
    exp.write_text(TINY.format(runs=root / "runs"))
    config = pipeline_config(parse("--config", str(exp)))
    result = run(config=config, task_data=marker_task(n_train=60, n_dev=20, n_test=20), echo=lambda _: None,
                 progress=False)
    return root, exp, config, result


def test_the_file_sets_the_config(tiny):
    root, _, config, _ = tiny
    assert config == PipelineConfig(task="synthetic", teacher="tiny", teacher_epochs=1, teacher_lr=1e-3,
                                    max_seq_len=24, augment=1, losses=("mse",), seeds=1, student_epochs=1,
                                    transfer_epochs=1, presets=(), bench_examples=8, bench_batch_sizes=(4,),
                                    bench_repeats=1, explain_sample=4, runs_dir=str(root / "runs"))


def test_every_run_keeps_its_config_in_its_root_and_in_every_stage_it_builds(tiny):
    root, _, config, result = tiny
    text = (root / "runs" / EXPERIMENT_FILE).read_text()
    assert text == dumps(config)
    assert [s.name for s in result.stages] == ["teacher", "materials", "student", "student", "bench", "explain"]
    for stage in result.stages:
        assert (stage.path / EXPERIMENT_FILE).read_text() == text, stage.path


def test_printed_config_read_back_is_the_same_config_and_reuses_every_stage(tiny, capsys, tmp_path, monkeypatch):
    root, exp, config, result = tiny
    no_tensorflow(monkeypatch)
    assert cli.main(["run", "--config", str(exp), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert printed == (root / "runs" / EXPERIMENT_FILE).read_text()
    (tmp_path / "printed.toml").write_text(printed)
    again = pipeline_config(parse("--config", str(tmp_path / "printed.toml")))
    assert again == config
    rerun = run(config=again, task_data=marker_task(n_train=60, n_dev=20, n_test=20), echo=lambda _: None,
                progress=False)
    assert [s.ran for s in rerun.stages] == [False] * len(result.stages)            # every stage reused
    assert [(s.key, s.path) for s in rerun.stages] == [(s.key, s.path) for s in result.stages]
    assert rerun.students == result.students


def test_the_runs_own_experiment_toml_is_a_config_file(tiny):
    root, _, config, _ = tiny
    assert pipeline_config(parse("--config", str(root / "runs" / EXPERIMENT_FILE))) == config


def test_print_config_round_trips_every_kind_of_value_and_writes_nothing(tmp_path, capsys, monkeypatch):
    no_tensorflow(monkeypatch)
    argv = ["run", "--quick", "--seeds", "2", "--losses", "mse,kl", "--student-archs", "kim-cnn,bilstm,mymod:build",
            "--student-embedding", "static,non-static", "--force", "student", "--data-dir", str(tmp_path / "data"),
            "--runs-dir", str(tmp_path / "runs")]
    assert cli.main(argv + ["--print-config"]) == 0
    printed = capsys.readouterr().out
    assert "# checkpoint = ...  (not set)" in printed and 'archs = ["kim-cnn", "bilstm", "mymod:build"]' in printed
    assert tomllib.loads(printed)["run"] == {"runs_dir": str(tmp_path / "runs"), "quick": True,
                                             "force": ["student"], "strategy": "auto"}
    (tmp_path / "exp.toml").write_text(printed)
    assert pipeline_config(parse("--config", str(tmp_path / "exp.toml"))) == pipeline_config(cli.build_parser()
                                                                                             .parse_args(argv))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]      # no runs folder, no data folder


def test_floats_and_strings_come_back_exactly(tmp_path):
    config = PipelineConfig(teacher_lr=0.1 + 0.2, temperature=1e-7, runs_dir='odd "runs"\\dir\ttab é',
                            data_dir="d")
    (tmp_path / "exp.toml").write_text(dumps(config))
    values = read_experiment(tmp_path / "exp.toml").values
    assert PipelineConfig(**values) == config and values["teacher_lr"] == 0.30000000000000004
    assert "checkpoint" not in values and values["data_dir"] == "d"


def test_an_integer_for_a_number_is_the_same_experiment():
    config = PipelineConfig(temperature=2)
    assert config == PipelineConfig() and isinstance(config.temperature, float)   # so the same stage hashes


# ----------------------------------------------------------------- overrides
def test_options_typed_on_the_command_line_beat_the_file(tmp_path):
    (tmp_path / "exp.toml").write_text('[students]\nseeds = 2\nlosses = ["mse"]\n[materials]\naugment = 3\n'
                                       '[run]\nquick = true\nforce = ["bench"]\n')
    exp = str(tmp_path / "exp.toml")
    assert pipeline_config(parse("--config", exp)) == PipelineConfig.quick_config(seeds=2, losses=("mse",), augment=3,
                                                                                  force=("bench",))
    assert pipeline_config(parse("--config", exp, "--seeds", "5", "--losses", "ce", "--force", "student")) == \
        PipelineConfig.quick_config(seeds=5, losses=("ce",), augment=3, force=("student",))
    (tmp_path / "exp.toml").write_text("[teacher]\nepochs = 7\n")
    assert pipeline_config(parse("--config", exp, "--quick")) == PipelineConfig.quick_config(teacher_epochs=7)


def test_the_task_table_folds_its_options_into_the_name_and_options_beat_them(tmp_path):
    books = tmp_path / "books.csv"
    books.write_text("blurb,genre\n" + "".join(f"book {i},{'ab'[i % 2]}\n" for i in range(20)))
    (tmp_path / "exp.toml").write_text(f'[task]\nname = "csv:{books}"\nsplit = "70/30"\nsplit_seed = 4\n'
                                       'text_column = "blurb"\nlabel_column = "genre"\n')
    exp = str(tmp_path / "exp.toml")
    assert pipeline_config(parse("--config", exp)).task == f"csv:{books}?split=70/30&seed=4&text=blurb&label=genre"
    assert pipeline_config(parse("--config", exp, "--split-seed", "5")).task == \
        f"csv:{books}?split=70/30&seed=5&text=blurb&label=genre"
    printed = tmp_path / "printed.toml"
    printed.write_text(dumps(pipeline_config(parse("--config", exp))))
    assert pipeline_config(parse("--config", str(printed))) == pipeline_config(parse("--config", exp))


# ---------------------------------------------------------------- bad files
BAD = [
    ("unknown-table", "[studnets]\nseeds = 2\n", "exp.toml:1: unknown table [studnets]; did you mean [students]?"),
    ("unknown-key", "[teacher]\nepochs = 1\n\n[students]\nseed = 2\n",
     "exp.toml:5: unknown key 'students.seed'; did you mean 'students.seeds'?"),
    ("key-in-another-table", "[students]\naugment = 2\n",
     "exp.toml:2: unknown key 'students.augment'; did you mean 'materials.augment'?"),
    ("key-outside-a-table", "seeds = 2\n", "exp.toml:1: unknown key 'seeds' outside any table; did you mean "
     "'students.seeds'?"),
    ("string-for-int", '[students]\nseeds = "3"\n', "exp.toml:2: key 'students.seeds' must be an integer, got \"3\""),
    ("bool-for-int", "[students]\nseeds = true\n", "exp.toml:2: key 'students.seeds' must be an integer, got true"),
    ("string-for-list", '[students]\nlosses = "mse"\n',
     "exp.toml:2: key 'students.losses' must be a list of strings, got \"mse\""),
    ("number-for-table", "students = 3\n", "exp.toml:1: key 'students' must be a table ([students]), got 3"),
    ("out-of-range", "[run]\nquick = false\n[students]\n# the seeds\nseeds = 0\n",
     "exp.toml:5: key 'students.seeds' must be a positive integer, got 0"),
    ("negative-float", "[teacher]\nlr = -1\n", "exp.toml:2: key 'teacher.lr' must be a number > 0, got -1"),
    ("dotted-key", "students.seeds = 0\n", "exp.toml:1: key 'students.seeds' must be a positive integer, got 0"),
    ("unknown-name", '[students]\nlosses = ["mse", "nope"]\n',
     "exp.toml:2: key 'students.losses' must be distinct comma-separated names out of mse, kl, ce, mix, mix-mse, "
     'got ["mse", "nope"]'),
    ("bad-arch", '[students]\narchs = ["kim-cnn", "not an arch"]\n',
     "exp.toml:2: key 'students.archs' must be one of kim-cnn, bilstm or module:function (a builder of your own), "
     "got 'not an arch' in [\"kim-cnn\", \"not an arch\"]"),
    ("bad-stage", '[run]\nforce = ["nope"]\n',
     "exp.toml:2: key 'run.force' must be one of teacher, materials, student, bench, explain, report, got \"nope\""),
    ("unknown-teacher", '[teacher]\nname = "UNKNOWN"\n',
     "exp.toml:2: key 'teacher.name': unknown teacher 'UNKNOWN'; known: minilm-l6, bert-base, bert-large, tiny, "
     "mini, base, large"),
    ("toml-syntax", "[students]\nseeds = \n", "exp.toml:2: invalid TOML: Invalid value (column 9)"),
    ("not-utf8", b"[task]\nname = \"caf\xe9\"\n", "exp.toml:2: not UTF-8 text (TOML is UTF-8)"),
]


@pytest.mark.parametrize("content, line", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_file_is_one_line_naming_line_and_key_and_writes_nothing(tmp_path, capsys, monkeypatch, content, line):
    no_tensorflow(monkeypatch)
    exp = tmp_path / "exp.toml"
    exp.write_bytes(content if isinstance(content, bytes) else content.encode())
    for argv in (["run", "--config", str(exp), "--runs-dir", str(tmp_path / "runs")],
                 ["run", "--config", str(exp), "--print-config"]):
        assert cli.main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == f"distill: error: {tmp_path}/{line}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]   # no runs folder, no experiment.toml


def test_a_bad_file_that_names_its_runs_folder_does_not_make_it(tmp_path, capsys, monkeypatch):
    no_tensorflow(monkeypatch)
    (tmp_path / "exp.toml").write_text(f'[run]\nruns_dir = "{tmp_path / "runs"}"\n\n[students]\nseeds = 0\n')
    assert cli.main(["run", "--config", str(tmp_path / "exp.toml")]) == 2
    assert capsys.readouterr().err.startswith(f"distill: error: {tmp_path / 'exp.toml'}:5: key 'students.seeds'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]


def test_a_missing_file_is_one_line(tmp_path, capsys, monkeypatch):
    no_tensorflow(monkeypatch)
    assert cli.main(["run", "--config", str(tmp_path / "nope.toml"), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err == f"distill: error: --config {tmp_path / 'nope.toml'}: no such file\n"
    assert not any(tmp_path.iterdir())


def test_an_option_error_is_not_blamed_on_the_file(tmp_path, capsys, monkeypatch):
    no_tensorflow(monkeypatch)
    (tmp_path / "exp.toml").write_text("[students]\nseeds = 2\n")
    assert cli.main(["run", "--config", str(tmp_path / "exp.toml"), "--teacher", "UNKNOWN"]) == 2
    assert capsys.readouterr().err.startswith("distill: error: unknown teacher 'UNKNOWN'")


# ------------------------------------------------------------- the one table
def test_the_run_parser_and_the_table_agree():
    """Every flag of the table is an option of `distill run` with the table's type function and dest, and every
    option of `distill run` that sets a PipelineConfig field (or a task option) is in the table."""
    actions = {flag: action for action in run_parser()._actions for flag in action.option_strings}
    for option in OPTIONS:
        if option.flag is None:
            continue
        action = actions[option.flag]
        assert action.type is option.check and action.dest == option.argdest, option.flag
    not_config = {"-h", "--help", "--config", "--print-config", "--no-progress"}
    assert set(actions) - not_config == {option.flag for option in OPTIONS if option.flag}
    assert set(BY_FIELD) == {f.name for f in dataclasses.fields(PipelineConfig)}   # every field has a key


def test_the_names_the_table_restates_are_the_real_ones():
    from distill.app import bench, experiment
    from students import losses
    from students.kim_cnn import EMBEDDING_MODES
    from teachers.classifier import POOLINGS

    assert experiment.LOSSES == losses.LOSSES and experiment.EMBEDDING_MODES == EMBEDDING_MODES
    assert experiment.POOLINGS == POOLINGS and experiment.BENCH_MODES == bench.MODES


@pytest.mark.parametrize("field, value, key, flag_line, file_line", [
    ("seeds", 0, "students.seeds", "--seeds must be a positive integer, got 0",
     "key 'students.seeds' must be a positive integer, got 0"),
    ("augment", -1, "materials.augment", "--augment must be an integer >= 0, got -1",
     "key 'materials.augment' must be an integer >= 0, got -1"),
    ("bench_repeats", 0, "bench.repeats", "bench_repeats must be a positive integer, got 0",
     "key 'bench.repeats' must be a positive integer, got 0"),
])
def test_pipeline_config_and_the_file_refuse_with_the_same_function(tmp_path, field, value, key, flag_line,
                                                                     file_line):
    with pytest.raises(DistillError) as error:
        PipelineConfig(**{field: value})
    assert str(error.value) == flag_line
    table, name = key.split(".")
    (tmp_path / "exp.toml").write_text(f"[{table}]\n{name} = {value}\n")
    with pytest.raises(DistillError) as error:
        read_experiment(tmp_path / "exp.toml")
    assert str(error.value) == f"{tmp_path / 'exp.toml'}:2: {file_line}"
    flag = next(o.flag for o in OPTIONS if o.field == field)
    if flag is not None:   # and its flag, where it has one, by argparse
        with pytest.raises(SystemExit):
            parse(flag, str(value))


def test_help_lists_every_table_and_key():
    text = run_parser().format_help()
    for option in OPTIONS:
        assert f"[{option.table}]" in text and option.key in text


# ------------------------------------------------------------ student grid
DEFAULT_STUDENT = {"monitor": "dev_loss", "mode": "auto", "min_delta": 0.0, "arch": "kim-cnn", "loss": "mse",
                   "temperature": 2.0, "alpha": 0.5, "embedding": "static", "filters": 100, "widths": [3, 4, 5],
                   "dropout": 0.5, "max_norm": 3.0, "lr": 0.001, "batch_size": 50, "epochs": 2, "patience": 2,
                   "seed": 0, "transfer": True, "eval_batch_size": 256, "save_model": True}
"""The first student stage's config of the default `distill run`, as the code wrote it before the grid."""

BEFORE_THE_GRID = {
    "default": [("mse-seed0", "37d1fce4d3d0", {}),
                ("mse-seed1", "4439ae944606", {"seed": 1}),
                ("mse-seed2", "688323390b72", {"seed": 2}),
                ("ce-seed0", "57b060ce3a30", {"loss": "ce", "epochs": 20, "transfer": False}),
                ("ce-seed1", "7c08bb512312", {"loss": "ce", "epochs": 20, "seed": 1, "transfer": False}),
                ("ce-seed2", "f1380a0c156f", {"loss": "ce", "epochs": 20, "seed": 2, "transfer": False}),
                ("mse-noaug-seed0", "0dc390d60838", {"epochs": 20, "transfer": False})],
    "quick": [("mse-seed0", "37d1fce4d3d0", {}),
              ("ce-seed0", "c56a420d9fb2", {"loss": "ce", "epochs": 4, "transfer": False}),
              ("mse-noaug-seed0", "a5464b88efd2", {"epochs": 4, "transfer": False})],
}
"""(label, stage key on materials key "M", config's difference from DEFAULT_STUDENT) of every student stage of
the default and the --quick run, computed before the student grid was added: they must not change."""


@pytest.mark.parametrize("which", ["default", "quick"])
def test_default_runs_keep_their_student_stages(which):
    from distill.app.pipeline import _bench_config, _student_config, _student_label, _student_plan
    from distill.app.stages import stage_key

    config = pipeline_config(parse(*(["--quick"] if which == "quick" else [])))
    stages = []
    for key in _student_plan(config):
        student = _student_config(config, key).to_dict()
        stages.append((_student_label(config, key), stage_key("student", student, ["M"]),
                       {k: v for k, v in student.items() if DEFAULT_STUDENT[k] != v}))
    assert stages == BEFORE_THE_GRID[which]
    if which == "default":
        assert _bench_config(config) == {"presets": ["bert-base", "bert-large"], "examples": 64,
                                         "batch_sizes": [1, 32], "modes": ["text"], "repeats": 3, "split": "test"}


def test_the_student_grid_is_archs_by_embeddings_by_losses_by_seeds():
    from distill.app.pipeline import _student_label, _student_plan

    config = pipeline_config(parse("--student-archs", "kim-cnn,bilstm,mymod:build", "--student-embedding",
                                   "static,non-static", "--losses", "mse,ce", "--seeds", "1", "--augment", "1"))
    assert config.student_archs == ("kim-cnn", "bilstm", "mymod:build")
    assert config.student_embedding == ("static", "non-static")
    labels = [_student_label(config, key) for key in _student_plan(config)]
    assert labels == ["mse-seed0", "ce-seed0", "mse-noaug-seed0",
                      "non-static-mse-seed0", "non-static-ce-seed0", "non-static-mse-noaug-seed0",
                      "bilstm-mse-seed0", "bilstm-ce-seed0", "bilstm-mse-noaug-seed0",
                      "bilstm-non-static-mse-seed0", "bilstm-non-static-ce-seed0", "bilstm-non-static-mse-noaug-seed0",
                      "mymod-build-mse-seed0", "mymod-build-ce-seed0", "mymod-build-mse-noaug-seed0",
                      "mymod-build-non-static-mse-seed0", "mymod-build-non-static-ce-seed0",
                      "mymod-build-non-static-mse-noaug-seed0"]
    assert PipelineConfig(student_embedding="rand").student_embedding == ("rand",)


def test_a_bad_arch_on_the_command_line_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        parse("--student-archs", "kim-cnn,not an arch")
    assert "argument --student-archs: must be one of kim-cnn, bilstm or module:function" in capsys.readouterr().err


def test_only_built_in_students_are_explained(tmp_path):
    from distill.app.pipeline import StudentKey, _best_student

    mine, ours = tmp_path / "mine", tmp_path / "ours"
    students = {StudentKey("mymod:build", "static", "mse", True, 0): mine,
                StudentKey("bilstm", "static", "mse", True, 0): ours}
    assert _best_student(students, "accuracy") == ours
    assert _best_student({StudentKey("mymod:build", "static", "mse", True, 0): mine}, "accuracy") is None


def test_the_explained_student_is_a_distilled_one_when_there_is_one(tmp_path, monkeypatch):
    """ce is the baseline, not what the student learned from the teacher: it is explained only alone."""
    from distill import runfiles
    from distill.app.pipeline import StudentKey, _best_student

    baseline, distilled = tmp_path / "ce", tmp_path / "mse"
    dev = {baseline: 0.9, distilled: 0.8}   # the baseline is better on dev
    monkeypatch.setattr(runfiles, "finished_results", lambda path, kind: {"dev": {"accuracy": dev[path]}})
    ce_key, mse_key = StudentKey("kim-cnn", "static", "ce", False, 0), StudentKey("kim-cnn", "static", "mse", True, 0)
    assert _best_student({ce_key: baseline, mse_key: distilled}, "accuracy") == distilled
    assert _best_student({ce_key: baseline}, "accuracy") == baseline


def test_read_config_is_the_file_alone(tmp_path):
    from distill.app.experiment import read_config

    (tmp_path / "exp.toml").write_text('[students]\nseeds = 2\n[run]\nquick = true\n')
    assert read_config(tmp_path / "exp.toml") == PipelineConfig.quick_config(seeds=2)
