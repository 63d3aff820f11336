"""WordPiece tokenization: the ASCII shortcut against the `tokenizers` pipeline alone, same run, same texts.

`distill.wordpiece.WordPieceTokenizer.encode` splits printable-ASCII text
itself and looks each word's ids up in a cache the library fills; with
`ascii_shortcut=False` every text goes through the library. Both tokenizers
are built over the same vocab and timed in alternating rounds (the machines
here are noisy, and alternation spreads the noise over both), each round a
pass over `--examples` texts in batches of `--batch` that lasts at least
0.25 s; the first round is warm-up (the shortcut's word cache fills there,
as it does in any long-running process). Prints texts/s of each (median,
min, max over rounds), the speed-up, the share of texts that took the
shortcut, and checks that both gave the same ids.

    python bench/tokenizer_throughput.py                         # rt-polarity test, minilm-l6 vocab
    python bench/tokenizer_throughput.py --texts my.txt --vocab my/vocab.txt --cased
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

ROUND_SECONDS = 0.25


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texts", default="rt-polarity",
                   help="a task name (its test split), 'synthetic', or a file with one text per line "
                   "(default rt-polarity)")
    p.add_argument("--vocab", type=Path, help="vocab.txt (default: minilm-l6's, from its wheel)")
    p.add_argument("--cased", action="store_true", help="keep case (for a cased vocab)")
    p.add_argument("--examples", type=int, default=1024, help="texts per pass (default 1024)")
    p.add_argument("--batch", type=int, default=32, help="texts per encode call (default 32)")
    p.add_argument("--rounds", type=int, default=10, help="timed rounds per tokenizer (default 10)")
    p.add_argument("--max-seq-len", type=int, default=128)
    p.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "out" / "tokenizer_throughput.json")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench.student_throughput import load_texts
    from distill.wordpiece import WordPieceTokenizer

    texts, where = load_texts(args.texts, args.examples)
    if args.vocab:
        vocab = str(args.vocab)
    else:
        from teachers.registry import load_teacher

        vocab = load_teacher("minilm-l6", max_seq_len=args.max_seq_len).tokenizer.vocab
    tokenizers = {"library": WordPieceTokenizer(vocab, not args.cased, args.max_seq_len, ascii_shortcut=False),
                  "shortcut": WordPieceTokenizer(vocab, not args.cased, args.max_seq_len)}
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]

    def one_pass(tok):
        return [row for batch in batches for row in tok.encode(batch).ids]

    ids = {name: one_pass(tok) for name, tok in tokenizers.items()}   # warm-up, and the ids to compare
    same = all(a.tolist() == b.tolist() for a, b in zip(ids["library"], ids["shortcut"]))
    rates = {name: [] for name in tokenizers}
    for _ in range(args.rounds):
        for name, tok in tokenizers.items():
            start, done = time.perf_counter(), 0
            while time.perf_counter() - start < ROUND_SECONDS:
                one_pass(tok)
                done += len(texts)
            rates[name].append(done / (time.perf_counter() - start))
    shortcut = tokenizers["shortcut"]
    taken = sum(shortcut._shortcut_ids(t) is not None for t in texts) / len(texts)
    summary = {"texts": where, "examples": len(texts), "batch": args.batch, "rounds": args.rounds,
               "same_ids": same, "shortcut_share": taken,
               "texts_per_s": {name: {"median": statistics.median(r), "min": min(r), "max": max(r)}
                               for name, r in rates.items()}}
    summary["speedup"] = summary["texts_per_s"]["shortcut"]["median"] / summary["texts_per_s"]["library"]["median"]
    print(f"{len(texts)} texts from {where}, batches of {args.batch}, {args.rounds} alternating rounds")
    for name, r in summary["texts_per_s"].items():
        print(f"  {name:9s} {r['median']:>10,.0f} texts/s  (min {r['min']:,.0f}, max {r['max']:,.0f})")
    print(f"  speed-up {summary['speedup']:.2f}x; {100 * taken:.1f}% of texts took the shortcut; "
          f"same ids: {'yes' if same else 'NO'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
