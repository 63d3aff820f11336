"""Shared test set-up: quiet TensorFlow, a private cache per test session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
