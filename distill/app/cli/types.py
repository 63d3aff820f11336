"""argparse `type=` functions for numeric options: a bad value is a usage error before anything runs.

`--batch-size 0` should not get as far as TensorFlow: with these as `type=`,
argparse itself refuses it with its usual two lines (usage, then
`distill <command>: error: argument --batch-size: must be a positive integer,
got '0'`) and exit status 2, before the handler runs or TensorFlow is
imported. Each function names what it accepts in the message; floats must
also be finite (`nan` and `inf` are refused).
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (a count of examples, epochs, filters, repeats; a batch size)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (a number of augmented variants, warm-up passes or rows to show; 0 meaning none)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def random_seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32 - 1], what NumPy's seeding accepts."""
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 4294967295], got {text!r}")
    return value


def seq_len(text: str) -> int:
    """Tokens per row: at least 3, room for [CLS], one token and [SEP]."""
    value = _int(text)
    if value < 3:
        raise argparse.ArgumentTypeError(f"must be an integer >= 3 ([CLS], a token, [SEP]), got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number > 0 (a learning rate, a temperature)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A number >= 0 (a weight decay, a clip norm where 0 means off)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1] (a chance, a mixing weight)."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def fraction_below_one(text: str) -> float:
    """A number in [0, 1) (a dropout rate, a warm-up fraction of all steps)."""
    value = _float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value


def positive_ints(text: str) -> str:
    """A comma-separated list of integers >= 1 (`16,32`), checked here and returned as given:
    the handler splits it as before, knowing every item is good."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers, got {text!r}")
    for item in items:
        try:
            positive_int(item)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"must be comma-separated positive integers, got {item!r} in {text!r}") from None
    return text


def positive_floats(text: str) -> str:
    """A comma-separated list of numbers > 0 (`2e-5,3e-5`), checked here and returned as given."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers > 0, got {text!r}")
    for item in items:
        try:
            positive_float(item)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"must be comma-separated numbers > 0, got {item!r} in {text!r}") from None
    return text


def words(allowed):
    """A type for a comma-separated list of distinct names out of `allowed` (`mse,ce`) -> list."""
    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        wrong = [item for item in items if item not in allowed]
        if not items or wrong or len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"must be distinct comma-separated names out of {', '.join(allowed)}, "
                                             f"got {text!r}")
        return items

    parse.__name__ = "names"
    return parse


def arch_spec(text: str) -> str:
    """A student architecture: a built-in name, or `module:function` (a builder of the user's own; it is
    imported only when the student is built)."""
    from distill.errors import DistillError
    from students.archs import check_arch_spec   # names only: imports nothing heavy

    try:
        return check_arch_spec(text, "--arch")
    except DistillError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--arch ")) from None


def one_of(allowed):
    """A type for one name out of `allowed` (`--strategy auto`); `.choices` lists them, so a parser can show
    them as argparse `choices=` does, and a config file is checked by the same function."""
    allowed = tuple(allowed)

    def parse(text: str) -> str:
        if text not in allowed:
            raise argparse.ArgumentTypeError(f"must be one of {', '.join(allowed)}, got {text!r}")
        return text

    parse.__name__ = "choice"
    parse.choices = allowed
    return parse


def arch_specs(text: str) -> list:
    """A comma-separated list of distinct student architectures (`kim-cnn,bilstm,mypkg.students:build`):
    built-in names or `module:function` (`students.archs.check_arch_spec`; nothing is imported) -> list."""
    from distill.errors import DistillError
    from students.archs import PYTHON_PREFIX, check_arch_spec

    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items or len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"must be distinct comma-separated architectures, got {text!r}")
    for item in items:
        from_python = item.startswith(PYTHON_PREFIX)   # a model handed in from Python: nothing here builds it
        try:
            check_arch_spec("" if from_python else item, "")   # "" gets the one message of a bad spec
        except DistillError as exc:
            where = f"{item!r}" if len(items) == 1 else f"{item!r} in {text!r}"
            reason = str(exc).strip().rsplit(", got ", 1)[0]
            raise argparse.ArgumentTypeError(f"{reason}, got {where}") from None
    return items
