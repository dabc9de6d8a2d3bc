#!/usr/bin/env python3
"""Gives a train_tokenizer.py tokenizer one token per number from 0 to 999, so that a coordinate is
one token rather than up to three digits, and rewrites the golden ids for the C++ test.

    tools/train_nano/add_number_tokens.py --in tokenizer.json --out tests/data/engine/nano_tokenizer/tokenizer.json \
        --examples data/nano/examples.jsonl --golden tests/data/engine/nano_tokenizer/golden.json

Why: with digit tokens, a coordinate's tens and units digits are periodic functions of the point
(the units digit cycles 64 times across a 640 px image), which a small model's linear read-outs
match poorly: deskpilot-nano found the target's image token for most digits but wrote the tens and
units wrong half the time. With one token per number, "near the right number" is a smooth target;
train.py's --number-sigma smooths the answer loss over neighbouring numbers to make it so.

What changes: the Split regex's \\p{N} (one digit per piece) becomes \\p{N}{1,3} (runs of up to
three, as Llama 3's and GPT-4's pre-tokenizers cut them); 10..999 join the vocabulary after the
BPE vocabulary, with the merges that build them (both 'a bc' and 'ab c', since either pair of a
three-digit run may merge first); the special tokens move up past them, and reserved tokens pad
the vocabulary to a multiple of 64 again. Text without digits splits exactly as before, so a model
trained with the old tokenizer continues with this one: train.py --init-tokenizer maps its
embedding rows by token.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_tokenizer  # noqa: E402

DIGIT_PIECE, NUMBER_PIECE = r"|\p{N}|", r"|\p{N}{1,3}|"


def add_numbers(doc):
    """The tokenizer.json document with number tokens; raises ValueError if it already has them or
    its pre-tokenizer is not train_tokenizer.py's."""
    if "10" in doc["model"]["vocab"]:
        raise ValueError("it already has number tokens")
    splits = [p for p in doc["pre_tokenizer"]["pretokenizers"] if p["type"] == "Split"]
    if len(splits) != 1 or DIGIT_PIECE not in splits[0]["pattern"]["Regex"]:
        raise ValueError("its pre-tokenizer is not train_tokenizer.py's (one Split regex cutting digits one by one)")
    splits[0]["pattern"]["Regex"] = splits[0]["pattern"]["Regex"].replace(DIGIT_PIECE, NUMBER_PIECE)
    vocab, merges, added = doc["model"]["vocab"], doc["model"]["merges"], doc["added_tokens"]
    # The numbers follow the BPE vocabulary and the added tokens move up past them: `tokenizers`
    # maps ids back to added tokens correctly only when those come after every vocabulary id.
    first_added = min(a["id"] for a in added)
    if first_added != len(vocab) or max(vocab.values()) != len(vocab) - 1:
        raise ValueError("its vocabulary ids are not 0..n-1 followed by the added tokens")
    for a in added:
        a["id"] += 990
    next_id = len(vocab)
    for n in range(10, 1000):
        vocab[str(n)] = next_id
        next_id += 1
    next_id = max(a["id"] for a in added) + 1
    for n in range(10, 100):
        merges.append([str(n)[0], str(n)[1]])
    for n in range(100, 1000):
        s = str(n)
        merges.append([s[:2], s[2]])
        if s[1] != "0":  # "05" is no token: 105 only merges as 10 + 5
            merges.append([s[0], s[1:]])
    reserved = sum(a["content"].startswith("<|reserved_") for a in added)
    template = next(a for a in added if a["content"].startswith("<|reserved_"))
    while next_id % 64:
        added.append(dict(template, id=next_id, content=f"<|reserved_{reserved}|>"))
        reserved += 1
        next_id += 1
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="src", required=True, help="train_tokenizer.py's tokenizer.json")
    ap.add_argument("--out", required=True, help="tokenizer.json to write")
    ap.add_argument("--examples", required=True, help="examples.jsonl from make_dataset.py (golden cases)")
    ap.add_argument("--golden", help="also write golden ids for the C++ test here")
    ap.add_argument("--golden-cases", type=int, default=160)
    a = ap.parse_args()
    try:
        with open(a.src, encoding="utf-8") as f:
            doc = add_numbers(json.load(f))
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"add_number_tokens.py: {a.src}: {e}")
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.out)
    print(f"wrote {a.out}: vocab {tok.get_vocab_size()}, '(123,45)' -> {tok.encode('(123,45)').tokens}")
    if a.golden:
        with open(a.examples, encoding="utf-8") as f:
            examples = [json.loads(line) for line in f if line.strip()]
        train_tokenizer.write_golden(tok, examples, a.golden, a.golden_cases)


if __name__ == "__main__":
    main()
