#!/usr/bin/env python3
"""Golden ids for added tokens with lstrip / rstrip / single_word / normalized / special flags,
from the `tokenizers` library (the reference), on the real Qwen3 tokenizer plus extra tokens.

    pip install tokenizers
    tools/golden/added_tokens_golden.py ../shared/models/qwen3-tokenizer/tokenizer.json \
        tests/data/engine/tokenizer/added_tokens_golden.json

Writes {"added_tokens": [...], "cases": [{"text", "ids", "ids_split_special", "decoded",
"decoded_skip_special"}...]}. `added_tokens` are the extra entries exactly as tokenizers
serialises them (the test appends them to the Qwen3 tokenizer.json's added_tokens);
`ids_split_special` is encode with encode_special_tokens=True (special tokens as plain text).
"""
import json
import sys

import tokenizers
from tokenizers import AddedToken, Tokenizer

EXTRA = [
    # (content, special, flags)
    ("<L>", True, dict(lstrip=True, normalized=False)),
    ("<R>", True, dict(rstrip=True, normalized=False)),
    ("<LR>", False, dict(lstrip=True, rstrip=True, normalized=False)),
    ("zorblax", False, dict(single_word=True, normalized=False)),
    ("<SW>", True, dict(single_word=True, lstrip=True, normalized=False)),
    ("caf\u00e9", False, dict(normalized=True)),  # found after NFC: "cafe\u0301" matches too
    ("nai\u0308ve", False, dict(normalized=False)),  # raw spelling only: NFC "na\u00efve" does not
    ("<N>", False, dict(normalized=True, lstrip=True, rstrip=True)),
    ("<L>x", False, dict(normalized=False)),  # longer than <L>: leftmost-longest wins
    ("im_end", False, dict(normalized=False)),  # inside <|im_end|>: only found if that is not
]

TEXTS = [
    "a   <L>b", "<L>", "   <L>", "x <L> <L> y", "x\n\t <L>", "\u3000\u00a0<L>z", "<L>   ", "word<L>",
    "<R>   x", "<R>\n\nnext", "<R>", "a <R> b <R>", "<R>\u3000\u2003end", "<R><R>  <R>",
    "one  <LR>  two", "<LR>", "  <LR>\n", "a<LR>b", "<L>  <LR>  <R>  c", "<R>   <L>", "<R>  <LR>",
    "zorblax", "a zorblax b", "zorblaxy", "xzorblax", "zorblax!", "(zorblax)", "zorblax_1", "_zorblax",
    "1zorblax", "zorblax\u00b2", "\u00e9zorblax", "\u4e2dzorblax", "zorblax\u0301", "zorblax\u200d",
    "\u24b6zorblax", "zorblax zorblax", "zorblaxzorblax zorblax",
    "  <SW>  ", "a<SW>", "a <SW>", "<SW>b", "\u00b2<SW>", "x  <SW>.", "<SW><SW>",
    "caf\u00e9", "cafe\u0301", "un caf\u00e9 noir", "cafe\u0301s", "CAF\u00c9",
    "nai\u0308ve", "na\u00efve", "a nai\u0308ve na\u00efve b",
    "x  <N>  y", "<N>", "a\u0301  <N>\n", "<N> <N>",
    "<L>x", "<L>xy", " <L>x", "<L>y",
    "<|im_end|>", "im_end", "<|im_start|>user\nim_end<|im_end|>\n", "<think> <L> </think>",
    "<|im_start|>  <L>  <R>  <|im_end|>", "plain text without added tokens",
]


def main():
    base = Tokenizer.from_file(sys.argv[1])
    tok = Tokenizer.from_str(base.to_str())
    before = {a["id"] for a in json.loads(tok.to_str())["added_tokens"]}
    for content, special, flags in EXTRA:
        t = AddedToken(content, special=special, **flags)
        (tok.add_special_tokens if special else tok.add_tokens)([t])
    added = [a for a in json.loads(tok.to_str())["added_tokens"] if a["id"] not in before]
    assert len(added) == len(EXTRA), added
    cases = []
    for text in TEXTS:
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = True
        split = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        cases.append({"text": text, "ids": ids, "ids_split_special": split,
                      "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"source": "tokenizers " + tokenizers.__version__, "added_tokens": added,
                   "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(added)} added tokens, {len(cases)} cases written to {sys.argv[2]}")


if __name__ == "__main__":
    main()
