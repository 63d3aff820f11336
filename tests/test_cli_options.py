"""Options that mean one thing: `--split` is percentages and `--splits` split names in every command, no
option prefix is guessed, a mistyped option or command gets "did you mean", a misplaced input (a materials
file given as a run, a run given as materials, ...) is one line saying what it is, `explain --compare`
refuses a swapped pair, and TFLite prediction keeps third-party INFO lines off stderr.

Everything but the last test runs the cheap argument checks only: TensorFlow's import is replaced by a
failure, so each message is shown to come before it.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from distill.app import cli
from distill.app.cli import parsing, tasks
from distill.errors import DistillError
from distill.runfiles import HDF5_SIGNATURE, RunInfo, TokenizerFacts, read_run, write_run

ROOT = Path(__file__).resolve().parents[1]
NEEDS = "a teacher or student run folder (runs/teacher/<id>, runs/student/<id>)"
EXPORT = "an exported student's folder (distill student export)"
MODEL = "a fine-tuned model folder (Hugging Face or Google)"
MATERIALS = ("a materials file (runs/materials/<id>/materials.h5, from `distill materials generate`) or the folder "
             "holding it")


@pytest.fixture
def no_tensorflow(monkeypatch):
    """main() fails loudly if it gets as far as importing TensorFlow: the message must come before."""
    def refuse():
        raise AssertionError("TensorFlow imported before the argument checks refused the input")

    monkeypatch.setattr(cli, "_import_tensorflow_quietly", refuse)


def error_line(capsys, argv) -> str:
    """The one error line of `distill ARGV` (exit status 2, nothing on stdout, no traceback), without its
    `distill: error: ` prefix and newline."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exc:   # argparse's own refusals exit from parse_args
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (argv, err)
    assert out == "" and err.startswith("distill: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len("distill: error: "):-1]


def parse(*argv):
    return cli.build_parser().parse_args([str(a) for a in argv])


# ------------------------------------------------------------------ --split and --splits
def test_split_means_percentages_and_splits_means_names_in_every_command():
    """Walk the whole parser: every --split is the task option (a FILE's percentages), every --splits the
    split names, and no parser guesses option prefixes."""
    with_split, with_splits = set(), set()
    for path, parser in parsing.walk(cli.build_parser()):
        assert parser.allow_abbrev is False, path
        for action in parser._actions:
            if "--split" in action.option_strings:
                assert action.dest == tasks.DESTS["split"] and action.metavar == tasks.SPLIT_METAVAR, path
                with_split.add(" ".join(path))
            if "--splits" in action.option_strings:
                assert action.dest == tasks.SPLITS_DEST and action.metavar.startswith("NAME"), path
                with_splits.add(" ".join(path))
    assert with_split >= {"data prepare", "data show", "teacher finetune", "teacher tune", "teacher eval",
                          "materials generate", "bench", "run"}
    assert with_splits == {"teacher eval", "materials generate", "bench", "explain"}


def test_materials_generate_takes_split_percentages_beside_splits(tmp_path):
    """Once `ambiguous option: --split could match --split-seed, --splits`."""
    books = tmp_path / "books.csv"
    books.write_text("text,label\n" + "".join(f"book {i},{'xy'[i % 2]}\n" for i in range(20)), encoding="utf-8")
    args = parse("materials", "generate", "--teacher", "RUN", "--task", f"csv:{books}", "--split", "80/10/10",
                 "--splits", "train,dev")
    assert args.task_split == "80/10/10" and tasks.split_names(args, "materials generate") == ["train", "dev"]
    assert tasks.task_name(args) == f"csv:{books}?split=80/10/10&seed=0"


def test_an_option_prefix_is_never_guessed(capsys):
    assert error_line(capsys, ["student", "export", "RUN", "--form", "tflite"]) == \
        "student export: unknown option --form; did you mean --format?"
    assert error_line(capsys, ["teacher", "eval", "RUN", "--spl", "dev"]) == \
        "teacher eval: unknown option --spl; did you mean --split?"


@pytest.mark.parametrize("argv, value", [
    (["teacher", "eval", "RUN", "--split", "test"], "test"),
    (["teacher", "eval", "RUN", "--split", "dev,test"], "dev,test"),
    (["bench", "--preset", "tiny", "--split", "dev"], "dev"),
    (["materials", "generate", "--teacher", "RUN", "--split", "train,dev"], "train,dev"),
])
def test_split_names_given_as_split_say_to_use_splits(capsys, no_tensorflow, argv, value):
    assert error_line(capsys, argv) == (f"--split {value}: --split is a FILE's split percentages (e.g. 80/10/10); "
                                        f"to name the splits to read, use --splits {value}")


@pytest.mark.parametrize("argv, command", [
    (["bench", "--preset", "tiny", "--splits", "dev,test"], "bench"),
    (["explain", "--compare", "A", "B", "--sample", "3", "--splits", "dev,test"], "explain"),
])
def test_commands_that_read_one_split_say_so(capsys, no_tensorflow, argv, command):
    assert error_line(capsys, argv) == f"--splits dev,test: {command} reads one split; give one name (e.g. --splits dev)"


# ------------------------------------------------------------------ did you mean
@pytest.mark.parametrize("argv, line", [
    (["student", "export", "RUN", "--formt", "tflite"], "student export: unknown option --formt; did you mean --format?"),
    (["student", "export", "RUN", "--formt=tflite"], "student export: unknown option --formt; did you mean --format?"),
    (["student", "export", "RUN", "--formt", "tflite", "--quantise", "int8"],
     "student export: unknown options --formt (did you mean --format?), --quantise (did you mean --quantize?); "
     "see `distill student export --help`"),
    (["student", "export", "RUN", "--zzzzzz"], "student export: unknown option --zzzzzz; "
                                                "see `distill student export --help`"),
    (["student", "export", "RUN", "stray"], "student export: unexpected argument stray; "
                                            "see `distill student export --help`"),
    (["explain", "--split", "dev", "RUN", "text"], "explain: unknown option --split; did you mean --splits?"),
    (["predcit", "RUN", "text"], "unknown command 'predcit'; did you mean 'predict'?"),
    (["teacher", "finetun", "--teacher", "tiny"], "unknown command 'teacher finetun'; did you mean 'teacher finetune'?"),
    (["xyzzy"], "unknown command 'xyzzy'; the commands are data, tokenizer, teacher, predict, explain, materials, "
                "student, bench, run, report"),
])
def test_a_mistyped_option_or_command_is_one_line_with_the_closest(capsys, argv, line):
    assert error_line(capsys, argv) == line


def test_a_mistyped_choice_gets_the_closest_choice(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["student", "export", "RUN", "--format", "tflit"])
    assert exit_info.value.code == 2
    assert "argument --format: invalid choice: 'tflit' (choose from 'savedmodel', 'tflite'); did you mean " \
           "'tflite'?" in capsys.readouterr().err


# ------------------------------------------------------------------ misplaced inputs
def _run(folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True)
    write_run(folder, RunInfo(kind=kind, name="kim-cnn" if kind == "student" else "tiny", task="synthetic",
                              config={}, label_names=["negative", "positive"],
                              tokenizer=TokenizerFacts(True, 16, "ab12")))
    return folder


@pytest.fixture
def inputs(tmp_path):
    """A materials file, a materials folder, an HDF5 file without the suffix, a teacher and a student run
    folder, and an export folder: every input a command can be handed in the wrong place."""
    signature = HDF5_SIGNATURE + b"\0" * 64
    (tmp_path / "m.h5").write_bytes(signature)
    (tmp_path / "materials").mkdir()
    (tmp_path / "materials" / "materials.h5").write_bytes(signature)
    (tmp_path / "teacher-outputs").write_bytes(signature)
    export = tmp_path / "export"
    export.mkdir()
    (export / "export.json").write_text('{"kind": "student-export", "format": "tflite"}')
    return {"h5": tmp_path / "m.h5", "folder": tmp_path / "materials", "unsuffixed": tmp_path / "teacher-outputs",
            "teacher": _run(tmp_path / "teacher", "teacher"), "student": _run(tmp_path / "student", "student"),
            "export": export, "root": tmp_path}


@pytest.mark.parametrize("argv, line", [
    (["predict", "{h5}", "text"], "{h5} is a materials file; predict needs " + NEEDS + " or " + EXPORT),
    (["predict", "{unsuffixed}", "text"], "{unsuffixed} is a materials file; predict needs " + NEEDS + " or " + EXPORT),
    (["predict", "{folder}", "text"],
     "{folder} is a materials folder (it holds materials.h5); predict needs " + NEEDS + " or " + EXPORT),
    (["explain", "{h5}", "text"], "{h5} is a materials file; explain needs " + NEEDS),
    (["explain", "--compare", "{teacher}", "{folder}", "text"],
     "{folder} is a materials folder (it holds materials.h5); explain --compare needs " + NEEDS),
    (["teacher", "eval", "{h5}"],
     "{h5} is a materials file; teacher eval needs a teacher run folder (runs/teacher/<id>) or " + MODEL),
    (["teacher", "export", "{folder}", "--format", "hf", "{root}/out"], "{folder} is a materials folder (it holds "
     "materials.h5); teacher export needs a teacher run folder (runs/teacher/<id>)"),
    (["materials", "generate", "--teacher", "{h5}"], "{h5} is a materials file; materials generate --teacher needs "
     "a teacher run folder (runs/teacher/<id>) or " + MODEL),
    (["student", "export", "{export}"], "{export} is an exported student's folder; student export needs a student "
     "run folder (runs/student/<id>)"),
    (["student", "export", "{h5}"],
     "{h5} is a materials file; student export needs a student run folder (runs/student/<id>)"),
    (["bench", "--student", "{h5}"],
     "{h5} is a materials file; bench --student needs a student run folder (runs/student/<id>) or " + EXPORT),
    (["bench", "--teacher", "{folder}"], "{folder} is a materials folder (it holds materials.h5); bench --teacher "
     "needs a teacher run folder (runs/teacher/<id>) or " + MODEL),
    (["student", "train", "--materials", "{teacher}"],
     "--materials {teacher} is a teacher run folder, not a materials file; give " + MATERIALS),
    (["student", "train", "--materials", "{export}"],
     "--materials {export} is an exported student's folder, not a materials file; give " + MATERIALS),
    (["student", "export", "{student}", "--materials", "{student}"],
     "--materials {student} is a student run folder, not a materials file; give " + MATERIALS),
    (["materials", "info", "{teacher}"],
     "materials info {teacher} is a teacher run folder, not a materials file; give " + MATERIALS),
])
def test_a_misplaced_input_is_one_line_saying_what_it_is(capsys, no_tensorflow, inputs, argv, line):
    def fill(text):
        return text.format(**{k: str(v) for k, v in inputs.items()})

    assert error_line(capsys, [fill(a) for a in argv]) == fill(line)


def test_a_materials_file_read_as_a_run_says_so(inputs):
    """The foundation's own message, for the Python API (which no CLI check runs before)."""
    with pytest.raises(DistillError) as err:
        read_run(inputs["h5"], "student")
    assert str(err.value) == (f"{inputs['h5']} is a materials file (HDF5), not a run folder; give a student run "
                              "folder (runs/student/<id>)")
    with pytest.raises(DistillError, match=r"is a materials file \(HDF5\), not a run folder; give a teacher or "):
        read_run(inputs["unsuffixed"])


# ------------------------------------------------------------------ explain --compare
def test_explain_compare_refuses_a_swapped_pair(capsys, no_tensorflow, inputs):
    teacher, student = inputs["teacher"], inputs["student"]
    assert error_line(capsys, ["explain", "--compare", student, teacher, "text"]) == (
        f"explain --compare: swapped: {student} is a student run and {teacher} a teacher run; give the teacher "
        f"first: --compare {teacher} {student}")
    assert error_line(capsys, ["explain", "--compare", student, student, "text"]) == (
        f"explain --compare: the first must be a teacher run and the second a student run; {student} is a "
        f"student run and {student} a student run")
    from distill.app.cli.explain import check

    check(parse("explain", "--compare", teacher, student, "text"))   # the right order passes the check


# ------------------------------------------------------------------ third-party INFO lines
def test_filtered_stderr_drops_info_lines_and_keeps_the_rest(capfd):
    from distill.quiet import filtered_stderr

    with filtered_stderr():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"I0000 00:00:1700000000.123456   42 loader.cc:236] Restoring SavedModel bundle.\n")
        os.write(2, b"W0000 a real warning\n")
    assert capfd.readouterr().err == "W0000 a real warning\n"


@pytest.fixture(scope="module")
def tflite_export(tmp_path_factory):
    """A tiny student exported as TFLite (toy materials, one short training run)."""
    from materials.testing import write_toy_materials
    from students.export import export_student
    from students.train import StudentConfig, StudentTrainer

    root = tmp_path_factory.mktemp("tflite")
    materials = write_toy_materials(root / "toy.h5", n_per_split=16)
    StudentTrainer(StudentConfig(filters=4, batch_size=16, epochs=1, patience=1), progress=False,
                   echo=None).fit(materials, root / "run")
    export_student(root / "run", root / "export", "tflite", "none", echo=lambda *_: None)
    return root / "export"


def test_tflite_predict_keeps_info_lines_off_stderr(tflite_export):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}   # the command's own setting
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "distill.app.cli", "predict", str(tflite_export), "a fine film"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\ta fine film\n") and done.stdout.count("\n") == 1
    assert [line for line in done.stderr.splitlines() if "INFO" in line] == []
