#!/usr/bin/env python3
"""Golden ids for the C++ tokenizer, from the `tokenizers` library (the reference).

    pip install tokenizers
    tools/golden/tokenizer_golden.py ../shared/models/qwen3-tokenizer/tokenizer.json \
        tests/data/engine/tokenizer/golden.json

Writes {"cases": [{"text", "ids", "decoded"}...]}: `ids` from encode(text) (added tokens
recognised, no post-processing), `decoded` from decode(ids, skip_special_tokens=False).
"""
import json
import random
import sys

from tokenizers import Tokenizer


def corpus():
    c = [
        # English
        "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
        "It's a dog's life; they're here, we've gone, I'm done, you'll see, he'd know.",
        "IT'S SHOUTING, THEY'RE LOUD", "Don't stop believin'", "rock'n'roll", "e-mail", "state-of-the-art",
        "Mr. Smith went to Washington D.C. on Jan. 3rd.", "a", " ", "", "  leading spaces", "trailing spaces   ",
        "Tabs\tbetween\twords", "multiple     spaces     inside", "newline\nseparated\nlines", "windows\r\nline\r\nendings\r\n",
        "\r\n\r\n\r\n", "\n\n\n  \n", "mixed \t \n \r\n whitespace", "end with newline\n", "\u00a0non-breaking\u00a0space",
        "\u3000ideographic space\u3000", "zero\u200bwidth\u200bspace", "en\u2002space em\u2003space",
        "URL: https://example.com/path?query=1&b=2#frag", "email: someone@example.org", "#hashtag @mention $dollar %percent",
        "Click the 'Submit' button at the bottom-right corner.", "Open Firefox and search for \"weather in Paris\".",
        "Supercalifragilisticexpialidocious", "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        # Code
        "def foo(x):\n    return x * 2\n", "int main() { return 0; }", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}",
        "#include <stdio.h>\n", "const auto [a, b] = std::pair{1, 2};", "x = [i**2 for i in range(10) if i % 2 == 0]",
        "SELECT * FROM users WHERE id = 42;", "<div class=\"btn btn-primary\">OK</div>", "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
        "if (a && b || !c) { x >>= 2; y <<= 3; }", "    indented four\n        eight\n", "function() { console.log('hi'); }",
        "git commit -m \"fix: handle CRLF\"", "ls -la /usr/local/bin | grep -v '^d'", "$ echo $HOME && cd ~/",
        "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }", "#!/usr/bin/env bash\nset -euo pipefail\n", "a_b_c __init__ __name__",
        "camelCaseIdentifier snake_case_identifier SCREAMING_CASE", "0x1F 0b1010 0o777 1e-10 3.14159 -2.5e+3",
        # Numbers
        "1234567890", "3.14159265358979", "1,000,000", "2025-01-31T12:34:56Z", "(123) 456-7890", "12:30 PM",
        "Version 1.2.3-beta.4", "100%", "-42", "+1 555 0100", "٠١٢٣٤٥٦٧٨٩", "१२३", "①②③", "½ ¾ ⅓", "Ⅻ", "1st 2nd 3rd 4th",
        # Chinese
        "你好，世界！", "我喜欢编程。", "请点击屏幕右下角的“确定”按钮。", "机器学习是人工智能的一个分支。", "北京市海淀区中关村大街1号",
        "這是繁體中文的句子。", "打开浏览器，搜索“天气预报”", "中文English混合text测试", "一二三四五六七八九十", "《红楼梦》是中国古典小说。",
        # Japanese
        "こんにちは世界", "日本語のテキストです。", "カタカナとひらがなと漢字", "東京は日本の首都です。", "ﾊﾝｶｸｶﾀｶﾅ",
        "「設定」ボタンをクリックしてください。", "ありがとうございます！", "ガ", "ガ", "パ",
        # Korean
        "안녕하세요 세계", "한국어 문장입니다.", "서울특별시 강남구", "확인 버튼을 누르세요", "한", "한",
        # Arabic and other scripts
        "مرحبا بالعالم", "اللغة العربية جميلة.", "السلام عليكم ورحمة الله", "שלום עולם", "Привет, мир!", "Ελληνικά γράμματα",
        "नमस्ते दुनिया", "สวัสดีชาวโลก", "Tiếng Việt có dấu", "Ça va? Où est la gare? Straße, Größe, Ärger",
        "café", "cafe\u0301", "Å", "A\u030a", "ﬁ ligature", "Ω Ω", "ẞ ß", "İstanbul ıi", "ǅ ǆ Ǆ",
        # Emoji
        "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏿‍💻", "❤️", "👩‍❤️‍💋‍👨", "🇫🇷🇯🇵", "I love 🍕 and 🍣!", "🔥🔥🔥",
        "emoji at end 🎉", "✅ done ❌ failed ⚠️ warning", "©®™", "♠♣♥♦", "→ ← ↑ ↓ ⇒", "∀x∈ℝ: x² ≥ 0",
        # Special tokens inside text
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>", "text<|endoftext|>more text", "<|im_end|><|im_end|>",
        "<|box_start|>(100,200)<|box_end|>", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>", "<think>\nreasoning\n</think>\n\nanswer",
        "<|im_start", "im_start|>", "< |im_start| >", "<|IM_START|>", "a<|image_pad|>b", "<|object_ref_start|>button<|object_ref_end|>",
        "<|fim_prefix|>def f(<|fim_suffix|>):<|fim_middle|>", "<|endoftext|>",
        # UI-TARS prompts and answers
        "You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.",
        "## Output Format\n```\nThought: ...\nAction: ...\n```",
        "## Action Space\n\nclick(start_box='<|box_start|>(x1,y1)<|box_end|>')\nleft_double(start_box='<|box_start|>(x1,y1)<|box_end|>')",
        "hotkey(key='')\ntype(content='') #If you want to submit your input, use \"\\n\" at the end of `content`.",
        "scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')",
        "wait() #Sleep for 5s and take a screenshot to check for any changes.\nfinished(content='xxx')",
        "## Note\n- Use English in `Thought` part.\n- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.",
        "## User Instruction\nOpen the settings and enable dark mode.",
        "Thought: I need to click on the search bar to type the query.\nAction: click(start_box='(235,512)')",
        "Thought: The page has loaded. I'll scroll down to find the Submit button.\nAction: scroll(start_box='(960,540)', direction='down')",
        "Action: type(content='hello world\\n')", "Action: hotkey(key='ctrl c')", "Action: drag(start_box='(100,200)', end_box='(300,400)')",
        "Action: finished(content='The task is complete.')", "Action: left_double(start_box='<|box_start|>(1234,567)<|box_end|>')",
        "Reflection: The previous click missed the button.\nAction_Summary: Click the OK button.\nAction: click(start_box='(500,300)')",
        "Action: click(point='<point>510 150</point>')", "Thought: 我需要点击“设置”按钮。\nAction: click(start_box='(88,42)')",
        "Action: type(content='It\\'s done, \"quoted\"')", "Action: call_user()", "Action: wait()",
        # Edge cases
        "'s 't 're 've 'm 'll 'd", "'S 'T 'RE 'VE 'M 'LL 'D", "''''", "\"\"\"", "...", "---", "___", "***", "!!!???",
        "a\u0000b", "\u0001\u0002\u0003", "\x7f", "\t\t\t", "     ", "\u00ad soft hyphen", "\ufeffBOM at start",
        "Ａｂｃ１２３ full width", "ｱｲｳ", "x" * 300, " " * 100, "ab" * 120, "1" * 50, "\n" * 20, "🙂" * 30,
        "The price is $1,299.99 (incl. 20% VAT).", "CamelCase123Numbers456", "word.word,word;word:word", "(parenthesised [bracketed] {braced})",
    ]
    rng = random.Random(8)
    alphabet = list("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789 .,;:!?'\"()[]{}<>-_=+*/\\|\n\r\t") + list("éüñçåøßłžš中文日本語한국어مرحبا😀👍🏽‍")
    for n in range(40):
        length = rng.randint(1, 80)
        c.append("".join(rng.choice(alphabet) for _ in range(length)))
    return c


def main():
    tok = Tokenizer.from_file(sys.argv[1])
    cases = []
    for text in corpus():
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"source": "tokenizers " + __import__("tokenizers").__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(cases)} cases written to {sys.argv[2]}")


if __name__ == "__main__":
    main()
