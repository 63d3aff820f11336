"""Keep third-party notices off the user's stderr.

TensorFlow and TFLite print from C++ straight to file descriptor 2, before
(or regardless of) any Python log setting: TF's start-up banner (oneDNN,
CPU features), absl's `I0000 ...` INFO lines, and TFLite's
`INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`, which no setting
turns off (TF_CPP_MIN_LOG_LEVEL does not reach TFLite's own logger).
`filtered_stderr` captures descriptor 2 for the duration of a block and
passes every line through except those matching a pattern; real warnings
and errors reach the user unchanged, in order. Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

INFO_LINES = re.compile(r"^(INFO: |INFO:tensorflow:|I\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] )")
"""Third-party INFO lines: TFLite's minimal logger (`INFO: ...`), TF's Python logger, absl/TF C++ (`I0000 ...`)."""


@contextlib.contextmanager
def filtered_stderr(drop: re.Pattern = INFO_LINES):
    """Within the block, stderr (descriptor 2, so C++ output too) minus the lines matching `drop`, which
    are discarded; the rest is written out when the block ends (also when it raises). Where descriptor 2
    cannot be redirected (no real stderr), the block runs unfiltered."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    captured = tempfile.TemporaryFile(mode="w+b")
    try:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not drop.search(line):
                    print(line, file=sys.stderr)
    finally:
        os.close(saved)
        captured.close()
