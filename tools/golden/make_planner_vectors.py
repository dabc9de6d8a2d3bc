#!/usr/bin/env python3
"""Golden vectors for Deskpilot's planner from the official UI-TARS parser (PyPI `ui-tars`).

    python3 -m venv /tmp/uitars && /tmp/uitars/bin/pip install -r tools/golden/requirements.txt
    /tmp/uitars/bin/python tools/golden/make_planner_vectors.py > tests/data/planner/golden_vectors.json

For every response of planner_responses.py, every family whose convention the official parser
implements, and every screen, it records what the official parser returns: thought, reflection,
each action's type and text arguments, and each coordinate in screen pixels as the official
pyautogui translation computes it (round(centre · size, 3)). When the official parser rejects the
response, "official_error" says how, and the expectation comes from the response's canonical
form (see planner_responses.py). tests/planner/test_golden.cpp checks Deskpilot against this file.
"""
import ast
import contextlib
import io
import json
import sys

from ui_tars.action_parser import parse_action_to_structure_output

from planner_responses import responses

SCREENS = [(1920, 1080), (2560, 1440), (1366, 768), (3840, 2160), (800, 600)]
# family -> keyword arguments of parse_action_to_structure_output
FAMILIES = {
    "ui-tars-1.0": dict(model_type="qwen2vl"),
    "ui-tars-1.5": dict(model_type="qwen25vl"),
    "qwen2.5-vl": dict(model_type="qwen25vl", min_pixels=3136, max_pixels=12845056),
    # The official parser's relative mode is the 0-1000 convention of these families too.
    "qwen3-vl": dict(model_type="qwen2vl"),
    "doubao": dict(model_type="qwen2vl"),
}


def official(text, width, height, kwargs):
    with contextlib.redirect_stdout(io.StringIO()):  # the parser prints its failures
        return parse_action_to_structure_output(text, 1000, height, width, **kwargs)


def pixels(box_text, width, height):
    x1, y1, x2, y2 = ast.literal_eval(box_text)
    return [round((x1 + x2) / 2 * width, 3), round((y1 + y2) / 2 * height, 3)]


def main():
    vectors = []
    for index, (text, canonical) in enumerate(responses()):
        entry = {"id": index, "text": text}
        try:
            reading = official(text, 1920, 1080, FAMILIES["ui-tars-1.0"])
            # The official parser may accept a form it does not know and misread it (the o1
            # layout: thought lost); then the canonical form's reading is the expectation.
            if canonical is not None:
                meant = official(canonical, 1920, 1080, FAMILIES["ui-tars-1.0"])
                strip = lambda r: [{k: a[k] for k in ("thought", "reflection", "action_type", "action_inputs")} for a in r]
                if strip(reading) != strip(meant):
                    entry["official_differs"] = json.dumps(strip(reading), ensure_ascii=False)[:300]
                    entry["canonical"] = canonical
        except Exception as e:  # the official parser raises AssertionError, ValueError, ...
            entry["official_error"] = f"{type(e).__name__}: {e}"[:200]
            if canonical is None:
                raise SystemExit(f"response {index} is rejected and has no canonical form: {text!r}")
            entry["canonical"] = canonical
        source = entry.get("canonical", text)
        steps = {}
        for family, kwargs in FAMILIES.items():
            for width, height in SCREENS:
                parsed = official(source, width, height, kwargs)
                actions = []
                for a in parsed:
                    inputs = a["action_inputs"]
                    action = {"type": a["action_type"]}
                    for key in ("content", "key", "direction", "app_name"):
                        if key in inputs:
                            action[key] = inputs[key]
                    if "start_box" in inputs:
                        action["start"] = pixels(inputs["start_box"], width, height)
                    if "end_box" in inputs:
                        action["end"] = pixels(inputs["end_box"], width, height)
                    actions.append(action)
                steps[f"{family}@{width}x{height}"] = actions
                entry["thought"] = parsed[0]["thought"] or ""
                entry["reflection"] = parsed[0]["reflection"] or ""
        entry["steps"] = steps
        vectors.append(entry)
    json.dump({"generator": "tools/golden/make_planner_vectors.py", "parser": "PyPI ui-tars 0.5.1",
               "vectors": vectors}, sys.stdout, ensure_ascii=False, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
