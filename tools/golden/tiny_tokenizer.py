#!/usr/bin/env python3
"""A 1024-token tokenizer.json for the tiny Qwen3-VL test checkpoint, so the whole native
backend (chat layout, tokenizer, model) runs on it: Qwen3's pre-tokenizer and decoder, a
byte-level BPE trained to 1000 tokens on a fixed text, then the specials the chat layout needs
at the ids the tiny config uses (<|image_pad|> 1000, <|video_pad|> 1001, <|vision_start|> 1002,
<|vision_end|> 1003) and <|im_start|>, <|im_end|>, <|endoftext|>, then reserved tokens up to
1023 so every id the model can sample decodes.

    pip install tokenizers
    tools/golden/tiny_tokenizer.py tests/data/engine/qwen3_vl_moe_vision_tiny/tokenizer.json
"""
import json
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
           r"\s*[\r\n]+|\s+(?!\S)|\s+")
TEXT = ("Thought: I need to click the Apply button to save the settings. Action: click(start_box='(120,45)') "
        "type(content='hello world') scroll(direction='down') hotkey(key='ctrl s') finished(content='done') "
        "You are a GUI agent. You are given a task and your action history, with screenshots. ") * 50


def main():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([TEXT], trainer)
    while tok.get_vocab_size() < 1000:  # a small corpus may stop short: pad with unused tokens
        tok.add_tokens([f"<|pad_{tok.get_vocab_size()}|>"])
    specials = ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|im_start|>",
                "<|im_end|>", "<|endoftext|>"]
    specials += [f"<|reserved_{i}|>" for i in range(1024 - 1000 - len(specials))]
    tok.add_special_tokens(specials)
    assert tok.token_to_id("<|image_pad|>") == 1000 and tok.get_vocab_size() == 1024, tok.get_vocab_size()
    tok.save(sys.argv[1], pretty=False)
    # Spell the BPE options as the Hub's Qwen tokenizer does (strings, not null).
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    doc["model"]["continuing_subword_prefix"] = ""
    doc["model"]["end_of_word_suffix"] = ""
    with open(sys.argv[1], "w") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
    print("wrote", sys.argv[1], tok.encode("<|im_start|>user\nclick Apply<|im_end|>").ids)


if __name__ == "__main__":
    main()
