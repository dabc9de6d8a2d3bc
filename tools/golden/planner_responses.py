"""The model responses Deskpilot's planner is checked against (golden vectors and benchmark).

Each entry is (text, canonical): `text` is the response as a model writes it; `canonical` is the
same response in the form the official Python parser (PyPI `ui-tars`) accepts, or None when the
text itself is that form. When the official parser rejects `text` (box tokens, <bbox>, the
full-width colon, the o1 and seed layouts, a bare call), the expected result comes from
`canonical`, so every expectation is still the official parser's output.
"""
import random

THOUGHTS = [
    "The OK button is in the dialog at the bottom right.",
    "I need to open the File menu first, then choose Save As.",
    "The search box is empty; I'll type the query there.",
    "页面已经加载完成，我需要点击登录按钮。",
    "The list continues below the fold, so scroll down to see more items.",
    "Settings has a toggle for dark mode; it's the second row.",
    "Everything asked for is done: the file was saved as report.txt.",
    "I can't find the password, so I should ask the user.",
]


def xy(rng):
    return rng.randint(0, 999), rng.randint(0, 999)


def box(rng):
    x1, y1 = rng.randint(0, 900), rng.randint(0, 900)
    return x1, y1, x1 + rng.randint(1, 99), y1 + rng.randint(1, 99)


def actions(rng):
    """(written, canonical) pairs for every action and argument form."""
    out = []
    x, y = xy(rng)
    out.append((f"click(start_box='({x},{y})')", None))
    x, y = xy(rng)
    out.append((f"click(start_box='<|box_start|>({x},{y})<|box_end|>')", f"click(start_box='({x},{y})')"))
    b = box(rng)
    out.append((f"left_double(start_box='({b[0]},{b[1]},{b[2]},{b[3]})')", None))
    b = box(rng)
    out.append((f"right_single(start_box='[{b[0]}, {b[1]}, {b[2]}, {b[3]}]')",
                f"right_single(start_box='({b[0]},{b[1]},{b[2]},{b[3]})')"))
    x, y = xy(rng)
    out.append((f"click(point='<point>{x} {y}</point>')", None))
    b = box(rng)
    out.append((f"click(start_box='<bbox>{b[0]} {b[1]} {b[2]} {b[3]}</bbox>')",
                f"click(start_box='({b[0]},{b[1]},{b[2]},{b[3]})')"))
    x, y = xy(rng)
    out.append((f"click(start_box='({x}.5,{y}.25)')", None))
    x, y = xy(rng)
    out.append((f"click(start_box='( {x} , {y} )')", None))
    x, y = xy(rng)
    out.append((f'click(start_box="({x},{y})")', None))
    (x, y), (u, v) = xy(rng), xy(rng)
    out.append((f"drag(start_box='({x},{y})', end_box='({u},{v})')", None))
    (x, y), (u, v) = xy(rng), xy(rng)
    out.append((f"drag(start_point='<point>{x} {y}</point>', end_point='<point>{u} {v}</point>')", None))
    (x, y), (u, v) = xy(rng), xy(rng)
    out.append((f"drag(start_box='<|box_start|>({x},{y})<|box_end|>', end_box='<|box_start|>({u},{v})<|box_end|>')",
                f"drag(start_box='({x},{y})', end_box='({u},{v})')"))
    out.append(("hotkey(key='ctrl c')", None))
    out.append(("hotkey(key='ctrl shift t')", None))
    out.append(("hotkey(key='enter')", None))
    out.append(("type(content='hello world')", None))
    out.append(("type(content='It\\'s a \\\"test\\\"')", None))
    out.append(("type(content='first line\\nsecond line\\n')", None))
    out.append(("type(content='C:\\\\Users\\\\me')", None))
    out.append(("type(content='a, b=c (d) [e]')", None))
    out.append(("type(content='Grüße, 你好!')", None))
    out.append(("type(content='one\ntwo')", "type(content='one\\ntwo')"))
    x, y = xy(rng)
    out.append((f"scroll(start_box='({x},{y})', direction='down')", None))
    x, y = xy(rng)
    out.append((f"scroll(point='<point>{x} {y}</point>', direction='up')", None))
    x, y = xy(rng)
    out.append((f"scroll(start_box='({x},{y})', direction='left')", None))
    out.append(("wait()", None))
    out.append(("finished(content='The report is saved.')", None))
    out.append(("finished()", None))
    out.append(("call_user()", None))
    x, y = xy(rng)
    out.append((f"long_press(start_box='({x},{y})')", None))
    out.append(("open_app(app_name='Settings')", None))
    out.append(("press_home()", None))
    out.append(("press_back()", None))
    return out


def canon(written, canonical):
    return canonical if canonical is not None else written


def responses(seed=4):
    rng = random.Random(seed)
    acts = actions(rng)
    out = []

    # Every action in the plain Thought/Action layout.
    for i, (a, ca) in enumerate(acts):
        t = THOUGHTS[i % len(THOUGHTS)]
        text = f"Thought: {t}\nAction: {a}"
        out.append((text, None if ca is None else f"Thought: {t}\nAction: {ca}"))

    def pick():
        return acts[rng.randrange(len(acts))]

    for i in range(8):
        t, r = THOUGHTS[i % len(THOUGHTS)], THOUGHTS[(i + 3) % len(THOUGHTS)]
        a, ca = pick()
        # Reflection / Action_Summary (thought = summary, reflection kept)
        out.append((f"Reflection: {r}\nAction_Summary: {t}\nAction: {a}",
                    None if ca is None else f"Reflection: {r}\nAction_Summary: {t}\nAction: {ca}"))
        a, ca = pick()
        out.append((f"Action_Summary: {t}\nAction: {a}", None if ca is None else f"Action_Summary: {t}\nAction: {ca}"))
        a, ca = pick()
        out.append((a, f"Action: {canon(a, ca)}"))  # bare call
        a, ca = pick()
        out.append((f"Thought: {t}\nAction：{a}", f"Thought: {t}\nAction: {canon(a, ca)}"))  # full-width colon
        a, ca = pick()
        out.append((f"<think>\nLet me look at the screen. {r}\n</think>\nThought: {t}\nAction: {a}",
                    None if ca is None else f"Thought: {t}\nAction: {ca}"))
        a, ca = pick()
        out.append((f"<Thought>{t}</Thought>\nAction_Summary: {r}\nAction: {a}\n</Output>",
                    f"Thought: {t}\nAction: {canon(a, ca)}"))
        (a1, c1), (a, ca) = pick(), pick()
        out.append((f"Thought: {t}\nAction: {a1}\nAction: {a}",
                    None if ca is None and c1 is None else f"Thought: {t}\nAction: {canon(a1, c1)}\nAction: {canon(a, ca)}"))
        (a1, c1), (a2, c2) = pick(), pick()
        out.append((f"Thought: {t}\nAction: {a1}\n\n{a2}",
                    None if c1 is None and c2 is None else f"Thought: {t}\nAction: {canon(a1, c1)}\n\n{canon(a2, c2)}"))
        a, ca = pick()
        out.append((f"Action: {a}", None if ca is None else f"Action: {ca}"))  # grounding answer
        x, y = xy(rng)
        out.append((f"{t}\n<seed:tool_call><function=click><parameter=point><point>{x} {y}</point></parameter>"
                    f"</function></seed:tool_call>", f"Thought: {t}\nAction: click(start_box='({x},{y})')"))
    # Seed XML with several calls.
    (x, y), (u, v) = xy(rng), xy(rng)
    out.append((f"<seed:tool_call><function=click><parameter=point><point>{x} {y}</point></parameter></function>"
                f"<function=type><parameter=content>hello</parameter></function></seed:tool_call>",
                f"Action: click(start_box='({x},{y})')\n\ntype(content='hello')"))
    return out


if __name__ == "__main__":
    for text, c in responses():
        print(repr(text), "=>", repr(c))
