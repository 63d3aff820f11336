"""Shared test set-up: quiet TensorFlow's C++ logging for the whole suite.

Tests that need a private download cache set `DISTILL_CACHE` themselves;
slow tests use the real cache so each pinned wheel is fetched once per machine.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
