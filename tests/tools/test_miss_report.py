"""tools/train_nano/miss_report.py on a small `deskpilot eval grounding` result written here: the
buttons by label (how often each label is missed, and which button was clicked instead).

Standard library only (unittest); nano_common imports transformers only inside the functions that
need it.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train_nano")
sys.path.insert(0, TOOLS)
import miss_report  # noqa: E402


def button(label, x, point, hit):
    return {"role": "button", "label": label, "rect": [x, 400, 80, 22], "point": point, "hit": hit,
            "response": "Action: click(start_box='(1,1)')"}


def screen(*buttons):
    return {"model_image": [640, 384], "screen_size": [1280, 800], "targets": list(buttons)}


# Three screens with the same row of buttons at x 100, 200, 300. Confirm is missed twice of three
# (on Details… twice), Details… once of three (between the buttons), OK never.
ITEMS = [
    screen(button("OK", 100, [140, 410], True), button("Confirm", 200, [340, 410], False),
           button("Details…", 300, [340, 411], True)),
    screen(button("OK", 100, [140, 410], True), button("Confirm", 200, [330, 405], False),
           button("Details…", 300, [290, 411], False)),
    screen(button("OK", 100, [140, 410], True), button("Confirm", 200, [240, 410], True),
           button("Details…", 300, [340, 411], True)),
]


class ButtonLabels(unittest.TestCase):
    def test_each_label_missed_of_targets_worst_first_with_the_buttons_clicked_instead(self):
        rows = miss_report.button_labels(ITEMS)
        self.assertEqual([(label, missed, targets) for label, missed, targets, _ in rows],
                         [("Confirm", 2, 3), ("Details…", 1, 3), ("OK", 0, 3)])
        self.assertEqual(dict(rows[0][3]), {"Details…": 2})
        self.assertEqual(dict(rows[1][3]), {})  # its miss fell between two buttons

    def test_the_report_prints_the_missed_labels(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "grounding.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"items": ITEMS}, f)
            result = subprocess.run([sys.executable, os.path.join(TOOLS, "miss_report.py"), path],
                                    capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        line = next(line for line in result.stdout.splitlines() if "buttons by label" in line)
        self.assertTrue(line.endswith(": Confirm 2/3 (Details… 2), Details… 1/3"), line)


if __name__ == "__main__":
    unittest.main()
