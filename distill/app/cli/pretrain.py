"""`distill teacher pretrain`: masked-LM pretraining of a new BERT, or more of a pretrained one.

A new BERT is a size (`--config mini`) with a vocab (`--vocab DIR` from
`distill tokenizer train`, else the uncased BERT vocab); `--teacher NAME|PATH`
continues a pretrained teacher (domain-adaptive pretraining) with its own
vocab. The options that make the run (`teachers.pretrain.PretrainConfig`)
get their defaults from the dataclass; `--lr` is the exception, 5e-5 when
continuing a teacher.
"""

from __future__ import annotations

from distill import distribute
from distill.app.cli import checks, tasks
from distill.app.cli.tokenizer import SRC_HELP
from distill.app.cli.defaults import FINETUNE, given, with_default
from distill.app.cli.types import (fraction_below_one, non_negative_float, non_negative_int, positive_float,
                                    positive_int, random_seed, seq_len)
from distill.errors import DistillError

PRETRAIN = "teachers.pretrain:PretrainConfig"
CONFIGS = ("tiny", "mini", "small", "medium", "base", "large")
CONTINUE_LR = 5e-5
OPTIONS = ("lr", "batch_size", "epochs", "max_seq_len", "mask_rate", "whole_word", "warmup", "weight_decay",
           "clip_norm", "dropout", "seed", "dev_share", "save_every")
FINETUNE_OPTIONS = {"lr": "finetune_lr", "epochs": "finetune_epochs", "batch_size": "finetune_batch_size",
                    "seed": "seed", "max_seq_len": "finetune_max_seq_len"}


def register(teacher_parsers) -> None:
    p = teacher_parsers.add_parser(
        "pretrain", help="masked-LM pretraining of a new BERT (--config) or more of a pretrained one (--teacher); "
        "writes runs/pretrain/<id>/ with a loadable checkpoint per epoch",
        description="Masked-LM pretraining (15% of tokens: 80% [MASK], 10% random, 10% kept, drawn afresh every "
        "epoch; the MLM head tied to the word embeddings; AdamW with warm-up and linear decay; rows packed from "
        "consecutive sentences). Each checkpoint runs/pretrain/<id>/epoch-K is a teacher: --teacher "
        "runs/pretrain/<id>/epoch-K. A killed run resumes when the same command is run again.")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--config", choices=CONFIGS, help="a new BERT of this size from random weights: mini = 4 "
                       "layers, hidden 256; small = 4 x 512; medium = 8 x 512; base, large as Google's; tiny for tests")
    start.add_argument("--teacher", help="continue pretraining this teacher (minilm-l6, or a Hugging Face / Google "
                       "BERT folder, e.g. an earlier checkpoint runs/pretrain/<id>/epoch-K)")
    p.add_argument("--corpus", nargs="+", required=True, metavar="SRC", help=SRC_HELP)
    p.add_argument("--vocab", metavar="DIR", help="with --config: a tokenizer folder from `distill tokenizer train` "
                   "(default: the uncased BERT vocab, 30,522 tokens)")
    p.add_argument("--data-dir", help="local files of a task:NAME corpus or of --task (as for `distill data prepare`)")
    p.add_argument("--epochs", type=positive_int, help=with_default("passes over the corpus", PRETRAIN, "epochs"))
    p.add_argument("--batch-size", type=positive_int, help=with_default("rows per step", PRETRAIN, "batch_size"))
    p.add_argument("--lr", type=positive_float,
                   help=with_default("peak learning rate", PRETRAIN, "lr", f"{CONTINUE_LR:g} with --teacher"))
    p.add_argument("--max-seq-len", type=seq_len, help=with_default("tokens per packed row", PRETRAIN, "max_seq_len"))
    p.add_argument("--mask-rate", type=fraction_below_one,
                   help=with_default("share of tokens predicted", PRETRAIN, "mask_rate"))
    p.add_argument("--whole-word", action="store_const", const=True,
                   help="mask whole words (a word's ## pieces with it), as Google's whole-word-masking models")
    p.add_argument("--warmup", type=fraction_below_one,
                   help=with_default("fraction of steps of linear warm-up", PRETRAIN, "warmup"))
    p.add_argument("--weight-decay", type=non_negative_float,
                   help=with_default("AdamW weight decay", PRETRAIN, "weight_decay"))
    p.add_argument("--clip-norm", type=non_negative_float,
                   help=with_default("global gradient-norm clip, 0 = off", PRETRAIN, "clip_norm"))
    p.add_argument("--dropout", type=fraction_below_one,
                   help=with_default("dropout of a new BERT (--config)", PRETRAIN, "dropout"))
    p.add_argument("--seed", type=random_seed, help=with_default("random seed", PRETRAIN, "seed"))
    p.add_argument("--dev-share", type=fraction_below_one,
                   help=with_default("share of packed rows held out for the dev MLM loss", PRETRAIN, "dev_share"))
    p.add_argument("--save-every", type=non_negative_int, metavar="K",
                   help=with_default("write a checkpoint every K epochs (0: only fine-tuned epochs and the last)",
                                     PRETRAIN, "save_every"))
    p.add_argument("--checkpoint-format", choices=("google", "hf"), default="google",
                   help="google: bert_model.ckpt + bert_config.json + vocab.txt (default); hf: a BertForMaskedLM "
                        "folder (config.json, model.safetensors, tokenizer files)")
    ft = p.add_argument_group("fine-tuning as it learns", "fine-tune a copy of the checkpoint of epoch 0 and of every "
                              "K-th epoch on a task, and record dev/test accuracy against pretraining epochs "
                              "(finetune.jsonl; `distill report` tables and plots it)")
    ft.add_argument("--finetune-every", type=positive_int, metavar="K", help="fine-tune every K epochs (needs --task)")
    ft.add_argument("--task", help="the task to fine-tune on, as for `distill data prepare`")
    tasks.add_task_options(p)
    ft.add_argument("--finetune-lr", type=positive_float, help=with_default("fine-tuning learning rate", FINETUNE, "lr"))
    ft.add_argument("--finetune-epochs", type=positive_int, help=with_default("fine-tuning epochs", FINETUNE, "epochs"))
    ft.add_argument("--finetune-batch-size", type=positive_int,
                    help=with_default("fine-tuning batch size", FINETUNE, "batch_size"))
    ft.add_argument("--finetune-max-seq-len", type=seq_len,
                    help=with_default("fine-tuning tokens per row", FINETUNE, "max_seq_len"))
    p.add_argument("--out", help="run folder (default RUNS_DIR/pretrain/<config or teacher>-<hash>)")
    p.add_argument("--runs-dir", default="runs", help="root of the default output folder (default runs)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a finished run in the same folder, or restart an interrupted one (without it, an "
                        "interrupted run with the same options resumes from its last finished epoch)")
    p.add_argument("--strategy", choices=distribute.STRATEGIES, default="auto", help=distribute.HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(handler=pretrain, check=check_pretrain)


# ------------------------------------------------- checks before TensorFlow
def check_pretrain(args) -> None:
    from distill.data.corpus import check_corpus_sources

    check_corpus_sources(args.corpus, args.data_dir)
    if args.teacher is not None:
        if args.vocab is not None:
            raise DistillError(f"--vocab goes with --config; the teacher {args.teacher} has its own vocab")
        checks.teacher(args.teacher)
    elif args.vocab is not None:
        checks.tokenizer_folder(args.vocab, "--vocab")
    task = tasks.task_name(args)
    if args.finetune_every and task is None:
        raise DistillError("--finetune-every needs --task: the task to fine-tune on")
    if task is not None:
        if not args.finetune_every:
            raise DistillError("--task goes with --finetune-every K: how often to fine-tune on it")
        checks.task(task, args.data_dir)
    checks.output_folder(args.out, args.runs_dir, "pretrain")
    checks.strategy(args.strategy)


# ----------------------------------------------------------------- handler
def pretrain(args) -> None:
    from pathlib import Path

    from distill import api
    from teachers.finetune import FinetuneConfig
    from teachers.pretrain import PretrainConfig

    placement = distribute.setup(args.strategy)
    values = given(args, OPTIONS)
    if args.teacher is not None and "lr" not in values:
        values["lr"] = CONTINUE_LR
    task = finetune = None
    if args.finetune_every:
        task = api.load_task(tasks.task_name(args), data_dir=args.data_dir)
        finetune = FinetuneConfig(**given(args, FINETUNE_OPTIONS))
    trainer = api.pretrain_teacher(args.corpus, Path(args.out) if args.out else None, teacher=args.teacher,
                                   preset=args.config, vocab=args.vocab, config=PretrainConfig(**values),
                                   finetune_task=task, finetune_every=args.finetune_every, finetune_config=finetune,
                                   checkpoint_format=args.checkpoint_format, data_dir=args.data_dir,
                                   overwrite=args.overwrite, progress=not args.no_progress, strategy=args.strategy,
                                   runs_dir=args.runs_dir)
    run_dir = trainer.run_dir_
    if not placement.chief:
        print(f"worker {placement.rank}: done; the chief writes the pretraining run {run_dir}")
        return
    t = trainer.throughput_
    print(f"pretrained {trainer.train_results_['epochs_run']} epochs: dev MLM loss "
          f"{trainer.eval_results_['dev']['mlm_loss']:.4f}, masked-token accuracy "
          f"{trainer.eval_results_['dev']['mlm_accuracy']:.4f}; {t['tokens_per_s']:,.0f} tokens/s "
          f"({t['gflop_per_s']:.1f} GFLOP/s)")
    for record in trainer.finetunes_:
        test = (record.get("test") or {}).get("accuracy")
        print(f"  pretraining epoch {record['pretrain_epoch']:>3}: fine-tuned dev accuracy "
              f"{record['dev']['accuracy']:.4f}" + (f", test {test:.4f}" if test is not None else ""))
    last = max((p for p in run_dir.glob("epoch-*")), key=lambda p: int(p.name.split("-")[1]))
    print(f"pretraining run: {run_dir}\nlast checkpoint (a teacher): --teacher {last}")
