"""`distill run`: the whole path from data to report, stage by stage.

For now only the stages that exist are run, and the command says exactly
which ones it ran and which are not built yet, rather than pretend.
"""

from __future__ import annotations

from distill.data import describe_task, load_task

NOT_BUILT_YET = ("teacher fine-tune", "materials", "students", "bench", "report")


def run(task: str = "rt-polarity", teacher: str = "minilm-l6", quick: bool = False) -> None:
    print(f"distill run: task={task} teacher={teacher}{' (quick)' if quick else ''}")
    print("[1/1] data: loading and splitting")
    print(describe_task(load_task(task)))
    from teachers.registry import describe_teacher

    print(f"[info] teacher {teacher}:")
    print(describe_teacher(teacher))
    print("Not built yet, so not run: " + ", ".join(NOT_BUILT_YET) + ".")
