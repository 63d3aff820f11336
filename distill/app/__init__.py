"""The face of distill: the `distill` command, the `distill run` pipeline, the
benchmark adapters and the report. It may import every package of the project;
nothing imports it."""
