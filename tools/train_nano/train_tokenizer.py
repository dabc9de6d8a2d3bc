#!/usr/bin/env python3
"""The deskpilot-nano tokenizer: a compact byte-level BPE trained with `tokenizers` on the text
of the generated examples (prompts, instructions, answers), with Qwen2's pre-tokenizer (the
Split regex, so numbers split into single digits and coordinates stay digit by digit) and the
special tokens our chat layout needs. Also writes golden ids for the C++ tokenizer test.

    tools/train_nano/train_tokenizer.py --examples data/nano/examples.jsonl \
        --out tests/data/engine/nano_tokenizer/tokenizer.json \
        --golden tests/data/engine/nano_tokenizer/golden.json

Vocabulary: BPE up to --vocab-size minus the specials, then the specials, then reserved tokens up
to a multiple of 64 (so every id the model can sample decodes).
"""
import argparse
import json
import os
import random
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402

# Qwen2's pre-tokenizer pattern (tokenizer.json of Qwen2/2.5/3): \p{N} alone, one digit per piece.
PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus_texts(examples):
    """Every text the model reads or writes, without image placeholders."""
    for e in examples:
        for m in e["messages"]:
            for p in m["parts"]:
                if isinstance(p, str):
                    yield p
        yield e["target"]


def build(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(nc.SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    specials = list(nc.SPECIAL_TOKENS)
    n = tok.get_vocab_size() + len(specials)
    specials += [f"<|reserved_{i}|>" for i in range((-n) % 64)]
    tok.add_special_tokens(specials)
    return tok


def save(tok, path):
    tok.save(path, pretty=False)
    with open(path) as f:
        doc = json.load(f)
    # Spelled as the Hub's Qwen tokenizer spells them (strings, not null).
    doc["model"]["continuing_subword_prefix"] = ""
    doc["model"]["end_of_word_suffix"] = ""
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))


def golden_cases(tok, examples, n, seed):
    """Answers, instructions and a chat prefix, plus text the corpus never had (other scripts,
    digits, emoji) so byte fallback and merges outside the training text are covered too."""
    rng = random.Random(seed)
    answers = sorted({e["target"] for e in examples})
    instructions = sorted({p for e in examples for m in e["messages"] for p in m["parts"]
                           if isinstance(p, str) and m["role"] == "user"})
    texts = rng.sample(answers, min(n, len(answers)))
    texts += [t.rsplit("## User Instruction\n", 1)[-1] for t in rng.sample(instructions, min(n // 4, len(instructions)))]
    texts += [nc.render_chat([{"role": "system", "parts": [nc.SYSTEM_MESSAGE]},
                              {"role": "user", "parts": [nc.render_prompt("grounding", "Click the \"OK\" button"),
                                                         {"image": 0}]}], [4]),
              "Action: click(start_box='<|box_start|>(1234,5678)<|box_end|>')", "12345678901234567890",
              "Thought: 我需要点击“设置”按钮。\nAction: hotkey(key='ctrl s')", "Ünïcödé café naïve 😀👍🏽",
              "type(content='It\\'s \"quoted\"\\n')", "  leading and trailing spaces  ", "\n\n\t\r\n", "",
              "<|im_start|><|im_end|><|endoftext|><|video_pad|><|reserved_0|>"]
    cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    return cases


def write_golden(tok, examples, path, n):
    """golden.json for test_engine_nano_tokenizer: golden_cases' texts, ids and decodings."""
    import tokenizers
    cases = golden_cases(tok, examples, n, 12)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"source": "tokenizers " + tokenizers.__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(cases)} golden cases written to {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", required=True, help="examples.jsonl from make_dataset.py")
    ap.add_argument("--out", required=True, help="tokenizer.json to write")
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--golden", help="also write golden ids for the C++ test here")
    ap.add_argument("--golden-cases", type=int, default=160)
    a = ap.parse_args()
    with open(a.examples, encoding="utf-8") as f:
        examples = [json.loads(line) for line in f if line.strip()]
    train = [e for e in examples if e["split"] == "train"]
    tok = build(list(corpus_texts(train)), a.vocab_size)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    save(tok, a.out)
    tok = Tokenizer.from_file(a.out)
    ids = {s: tok.token_to_id(s) for s in nc.SPECIAL_TOKENS}
    lengths = [len(tok.encode(e["target"]).ids) for e in train]
    print(f"wrote {a.out}: vocab {tok.get_vocab_size()}, specials {ids}, "
          f"answer tokens mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}, "
          f"computer prompt {len(tok.encode(nc.render_prompt('computer', 'x')).ids)} tokens")
    if a.golden:
        write_golden(tok, examples, a.golden, a.golden_cases)


if __name__ == "__main__":
    main()
