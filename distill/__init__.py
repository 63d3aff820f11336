"""distill: the toolkit's foundation and its face.

Owns where data and weights come from (`sources`), datasets (`data`), task
metrics (`metrics`), the `distill` command (`cli`), the staged pipeline
(`pipeline`), throughput measurement (`bench`) and reports (`report`).
The model packages (`teachers`, `materials`, `students`) build on it.
"""

from distill.errors import DistillError

__all__ = ["DistillError"]
__version__ = "0.1.0"
