"""The one exception type a user is meant to read.

Anything raised as `DistillError` is printed by the CLI as a single line and
exits with status 2; anything else is a bug and keeps its traceback.
"""


class DistillError(Exception):
    """A problem the user can act on: bad input, missing file, offline source."""
