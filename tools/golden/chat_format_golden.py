#!/usr/bin/env python3
"""Golden chat-format strings and ids for the C++ chat format, from transformers'
apply_chat_template (the reference) with each family's own chat template.

    pip install transformers tokenizers jinja2
    tools/golden/chat_format_golden.py TOKENIZER_DIR QWEN2_VL_TEMPLATE QWEN3_VL_TEMPLATE OUT.json

TOKENIZER_DIR holds tokenizer.json + tokenizer_config.json (the Qwen3 tokenizer). The templates
are the `chat_template` of a Qwen2.5-VL / UI-TARS-1.5 checkpoint and of a Qwen3-VL checkpoint
(chat_template.json or tokenizer_config.json of the Hub repositories), saved as plain text. They
are inputs, not committed; the outputs are.
"""
import json
import sys

from transformers import AutoTokenizer

IMG = {"type": "image", "image": "screenshot.png"}


def text(t):
    return {"type": "text", "text": t}


UITARS_PROMPT = ("You are a GUI agent. You are given a task and your action history, with screenshots. "
                 "You need to perform the next action to complete the task.\n\n## Output Format\n```\nThought: ...\n"
                 "Action: ...\n```\n\n## User Instruction\nOpen the settings and enable dark mode.\n")

CONVERSATIONS = [
    # The planner's first step: instruction then screenshot.
    [{"role": "user", "content": [text(UITARS_PROMPT), IMG]}],
    # With a system turn.
    [{"role": "system", "content": [text("You are a helpful assistant that operates a desktop.")]},
     {"role": "user", "content": [IMG, text("Click the OK button.")]}],
    # History: screenshot, answer, screenshot, answer, screenshot.
    [{"role": "user", "content": [text(UITARS_PROMPT)]},
     {"role": "user", "content": [IMG]},
     {"role": "assistant", "content": [text("Thought: Open the menu.\nAction: click(start_box='(100,200)')")]},
     {"role": "user", "content": [IMG]},
     {"role": "assistant", "content": [text("Thought: 选择“设置”。\nAction: click(start_box='(300,40)')")]},
     {"role": "user", "content": [IMG]}],
    # Several images in one turn and plain text only turns.
    [{"role": "user", "content": [text("Compare "), IMG, text(" and "), IMG, text(".")]},
     {"role": "assistant", "content": [text("They differ in the title bar.")]},
     {"role": "user", "content": [text("Thanks")]}],
    # Text-only.
    [{"role": "user", "content": [text("Hello")]}],
]


def main():
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    templates = {"qwen2_vl": open(sys.argv[2]).read(), "qwen3_vl": open(sys.argv[3]).read()}
    cases = []
    for name, template in templates.items():
        for i, conv in enumerate(CONVERSATIONS):
            for gen in (True, False):
                for vision_id in (False, True):
                    s = tok.apply_chat_template(conv, chat_template=template, tokenize=False,
                                                add_generation_prompt=gen, add_vision_id=vision_id)
                    cases.append({"template": name, "conversation": i, "add_generation_prompt": gen,
                                  "add_vision_id": vision_id, "text": s,
                                  "ids": tok(s, add_special_tokens=False)["input_ids"]})
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        json.dump({"conversations": CONVERSATIONS, "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} cases written to {sys.argv[4]}")


if __name__ == "__main__":
    main()
