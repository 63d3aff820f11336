"""The argument parser of every `distill` command: no guessed prefixes, and "did you mean" for typos.

Python 3.11's argparse accepts any unambiguous prefix of an option (`--spl`
for `--split`) and reports an ambiguous one (`--split` once `--split-seed` and
`--splits` exist beside it) as an error; it also reports an unknown option with
the top-level usage, since the command's own parser hands unknown arguments
up, and offers no suggestion for a mistyped option or command. `Parser` (the
class `add_subparsers` gives every sub-parser too) turns prefixes off
(`allow_abbrev=False`), and says in one line which option or command is
unknown, with the closest of the parser's own option strings or commands
(`difflib.get_close_matches`). Exit status 2, as argparse's.
"""

from __future__ import annotations

import argparse
import difflib

ERROR = "distill: error: "
"""The start of every error line, as `distill.app.cli.main` prints a DistillError."""


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser with `allow_abbrev=False` by default and one-line "did you mean" errors."""

    def __init__(self, *args, allow_abbrev: bool = False, **kwargs):
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but unknown arguments are named by the command they were given to."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            leaf, path = command_parser(self, namespace)
            self.exit(2, f"{ERROR}{unknown_arguments(leaf, path, extras)}\n")
        return namespace

    def _check_value(self, action, value):
        """A mistyped command is one line with the closest command; a value not among an option's choices
        gets argparse's message with the closest choice added."""
        if action.choices is None or value in action.choices:
            return super()._check_value(action, value)
        choices = [str(choice) for choice in action.choices]
        close = difflib.get_close_matches(str(value), choices, n=1)
        if isinstance(action, argparse._SubParsersAction):
            command = self.prog.split(" ", 1)[1] + " " if " " in self.prog else ""
            hint = f"did you mean '{command}{close[0]}'?" if close else f"the commands are {', '.join(choices)}"
            self.exit(2, f"{ERROR}unknown command '{command}{value}'; {hint}\n")
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            if not close:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}; did you mean {close[0]!r}?") from None


def command_parser(parser: argparse.ArgumentParser, namespace) -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of the (sub-)command `namespace` was parsed for, and the command's words
    (`student export` -> the `export` parser, ["student", "export"])."""
    path = []
    while True:
        action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(namespace, action.dest, None) if action is not None else None
        if name not in getattr(action, "choices", {}):
            return parser, path
        parser = action.choices[name]
        path.append(name)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option string of a parser, help included (--help, -h, --format, ...)."""
    return [option for action in parser._actions for option in action.option_strings]


def suggest_option(parser: argparse.ArgumentParser, typed: str) -> str | None:
    """The parser's option closest to `typed` (`--formt` -> `--format`), or None when none is close."""
    known = {option.lstrip("-"): option for option in option_strings(parser) if option.startswith("--")}
    close = difflib.get_close_matches(typed.lstrip("-"), list(known), n=1)
    return known[close[0]] if close else None


def _is_option(arg: str) -> bool:
    """An argument that looks like an option (not '-', not a negative number)."""
    if not arg.startswith("-") or arg == "-":
        return False
    try:
        float(arg)
    except ValueError:
        return True
    return False


def unknown_arguments(parser: argparse.ArgumentParser, path: list[str], extras: list[str]) -> str:
    """One line for the arguments `parser` (of command `path`) did not know: each unknown option with
    the closest known one, else the stray arguments."""
    command = " ".join(path) or "distill"
    see = f"see `distill {' '.join(path)} --help`" if path else "see `distill --help`"
    options = [arg.split("=", 1)[0] for arg in extras if _is_option(arg)]
    if not options:
        return f"{command}: unexpected argument{'s' if len(extras) > 1 else ''} {' '.join(extras)}; {see}"
    options = list(dict.fromkeys(options))
    close = [suggest_option(parser, option) for option in options]
    if len(options) == 1:
        return f"{command}: unknown option {options[0]}; " + (f"did you mean {close[0]}?" if close[0] else see)
    named = ", ".join(f"{option} (did you mean {c}?)" if c else option for option, c in zip(options, close))
    return f"{command}: unknown options {named}; {see}"


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command words, parser) of `parser` and every sub-parser under it, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))

