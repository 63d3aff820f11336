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
