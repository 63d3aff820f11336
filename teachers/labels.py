"""Which output of a fine-tuned classifier head is which label of a task.

Owns the one rule for using a head trained elsewhere: its outputs are matched
to the task's label names *by name*, never silently by position. The names of
the outputs come from the folder (HF `id2label`, a Google folder's
`label_names.json`) or, explicitly, from the user (`--label-order
NAME,NAME,...`: output 0 is the first name, and so on), which then wins over
the folder's. Both lists must hold the same names: a different count, or names
that differ, is one line listing both. The result is the order in which to
take the head's outputs so that logit i is the task's label i (a permutation;
usually the identity).

A Google checkpoint records no label names, and an HF head saved without
`id2label` gets `LABEL_0, LABEL_1, ...`; the message then says how to state
the order (`--label-order` with the task's names).
"""

from __future__ import annotations

from typing import Sequence

from distill.errors import DistillError


def parse_label_order(text: str | None) -> list[str] | None:
    """`--label-order a,b,c` as a list of names (None when not given); one line when malformed."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if len(names) < 2 or not all(names):
        raise DistillError(f"--label-order {text!r}: give the head's label names in output order, comma-separated "
                           "(at least 2, none empty)")
    if len(set(names)) != len(names):
        raise DistillError(f"--label-order {text!r}: a label name repeats")
    return names


def head_order(task_name: str, task_labels: Sequence[str], rows: int, head_labels: Sequence[str] | None,
               label_order: Sequence[str] | None, where: str) -> list[int]:
    """For each task label, the head output that scores it. `where` names where `head_labels` come from
    (e.g. `PATH/config.json: field 'id2label'`), for messages."""
    task_labels = list(task_labels)
    if label_order is not None:
        names, source = list(label_order), "--label-order"
        if len(names) != rows:
            raise DistillError(f"--label-order names {len(names)} labels ({', '.join(names)}) but the classifier "
                               f"head in {where.split(':')[0]} has {rows} outputs")
    elif head_labels is None:
        raise DistillError(f"{where}: the classifier head's {rows} outputs have no label names; say which output is "
                           f"which with --label-order (task {task_name} has {', '.join(task_labels)}; e.g. "
                           f"--label-order {','.join(task_labels)} if output i is its label i)")
    else:
        names, source = list(head_labels), where
    if len(names) != len(task_labels) or set(names) != set(task_labels):
        hint = "" if label_order is not None or len(names) != len(task_labels) else \
            f"; if output i is the task's label i, pass --label-order {','.join(task_labels)}"
        raise DistillError(f"{source} names the head's outputs {names} but task {task_name} has labels "
                           f"{task_labels}{hint}")
    return [names.index(label) for label in task_labels]
