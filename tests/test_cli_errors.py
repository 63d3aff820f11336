"""`distill` turns file-system errors into one line (exit 2) and stops quietly when its reader goes away."""

import argparse

import pytest

from distill.app import cli


def _main_with(monkeypatch, handler) -> int:
    parser = argparse.ArgumentParser(prog="distill")
    parser.set_defaults(handler=handler, needs_tensorflow=False)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return cli.main([])


def test_a_file_system_error_is_one_line_naming_the_path(monkeypatch, capsys, tmp_path):
    (tmp_path / "a-file").write_text("x")

    def handler(args):
        (tmp_path / "a-file" / "runs").mkdir(parents=True)

    assert _main_with(monkeypatch, handler) == 2
    err = capsys.readouterr().err
    assert err == f"distill: error: {tmp_path / 'a-file' / 'runs'}: Not a directory\n"
    assert (tmp_path / "a-file").read_text() == "x"   # what was there is left as it was


def test_a_rename_names_both_paths(monkeypatch, capsys, tmp_path):
    import os

    def handler(args):
        os.rename(tmp_path / "missing", tmp_path / "elsewhere")

    assert _main_with(monkeypatch, handler) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'missing'} -> {tmp_path / 'elsewhere'}: No such file or directory" in err


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    def handler(args):
        raise BrokenPipeError(32, "Broken pipe")

    assert _main_with(monkeypatch, handler) == 141   # as a process stopped by SIGPIPE
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("exc, line", [(PermissionError(13, "Permission denied", "/x/run.json"),
                                        "/x/run.json: Permission denied"),
                                       (OSError("disk went away"), "disk went away")])
def test_describe_os_error(exc, line):
    assert cli.describe_os_error(exc) == line


def test_a_commands_check_runs_before_tensorflow_and_its_error_is_one_line(monkeypatch, capsys):
    from distill.errors import DistillError

    calls = []
    monkeypatch.setattr(cli, "_import_tensorflow_quietly", lambda: calls.append("tensorflow"))

    def check(args):
        calls.append("check")
        raise DistillError("unknown teacher 'x'; known: tiny")

    parser = argparse.ArgumentParser(prog="distill")
    parser.set_defaults(handler=lambda args: calls.append("handler"), check=check)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 2
    assert calls == ["check"]
    assert capsys.readouterr().err == "distill: error: unknown teacher 'x'; known: tiny\n"
    parser.set_defaults(check=lambda args: calls.append("check"))
    assert cli.main([]) == 0 and calls == ["check", "check", "tensorflow", "handler"]


def test_every_long_command_has_no_progress_and_a_check():
    """Long commands say --no-progress the same way, and check their arguments before TensorFlow."""
    parser = cli.build_parser()
    long_commands = (["teacher", "finetune", "--teacher", "tiny", "--task", "synthetic"],
                     ["teacher", "tune", "--teacher", "tiny", "--task", "synthetic"],
                     ["teacher", "eval", "RUN"], ["student", "train", "--materials", "m.h5"],
                     ["bench", "--preset", "tiny"], ["run"])
    for argv in long_commands:
        args = parser.parse_args([*argv, "--no-progress"])
        assert args.no_progress is True, argv
        assert callable(getattr(args, "check", None)), argv
