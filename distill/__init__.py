"""distill: the toolkit's foundation and its face.

Owns where data and weights come from (`sources`), datasets (`data`), task
metrics (`metrics`) and the training engine (`training`); its face is the
public Python API (`distill.api`) and `distill.app` (the `distill` command,
the staged pipeline, throughput measurement and reports), which alone may
tie the model packages together.
The model packages (`teachers`, `materials`, `students`) build on it.
"""

from distill.errors import DistillError

__all__ = ["DistillError"]
__version__ = "0.1.0"
