"""tools/train_nano/make_collage.py: which widgets a collage cuts, where it puts them, and the
grounding examples it writes for them, on small made data sets written here.

Standard library only (unittest): the collage's pixels need Pillow (paint_collage) and are not
drawn here; every choice that decides what the pixels show is.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train_nano")
sys.path.insert(0, TOOLS)
import make_collage  # noqa: E402
import nano_common as nc  # noqa: E402

LABELS = ["OK", "Cancel", "Apply", "Store", "Dismiss", "Keep"]


def button(name, label, x, visible=True, width=98):
    return {"label": label, "name": name, "rect": [x, 385, width, 22], "role": "button", "visible": visible}


def write_data_set(root, name, screens, extra_lines=()):
    """A made data set: for each (screen name, widgets, split, kind) a layout and one example."""
    data = os.path.join(root, name)
    os.makedirs(os.path.join(data, "screens"))
    with open(os.path.join(data, "examples.jsonl"), "w") as f:
        for screen, widgets, split, kind in screens:
            with open(os.path.join(data, "screens", screen + ".layout.json"), "w") as lf:
                json.dump({"scale": 1.0, "widgets": widgets}, lf)
            f.write(json.dumps({"kind": kind, "split": split, "images": [f"screens/{screen}.png"]}) + "\n")
        for line in extra_lines:
            f.write(line + "\n")
    return data


class Sources(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_only_visible_labelled_widgets_of_the_roles_on_training_grounding_screens(self):
        radio = {"label": "Small", "name": "radio_1", "rect": [30, 351, 59, 20], "role": "radio", "visible": True}
        wide = button("wide", "Wide", 0, width=300)  # wider than a grid cell
        data = write_data_set(self.root, "d", [
            ("s1_000", [button("ok", "OK", 900), button("hidden", "Keep", 1000, visible=False),
                        button("blank", "", 1100), radio, wide], "train", "grounding"),
            ("s2_000", [button("val", "Apply", 900)], "val", "grounding"),
            ("s3_000", [button("task", "Store", 900)], "train", "task"),
        ])
        got = make_collage.source_widgets([data], {"button"})
        self.assertEqual([(d, rel, w["name"]) for d, rel, w in got], [(data, "screens/s1_000.png", "ok")])
        both = make_collage.source_widgets([data], {"button", "radio"})
        self.assertEqual([w["name"] for _, _, w in both], ["ok", "radio_1"])

    def test_bad_sources_name_the_input(self):
        missing = os.path.join(self.root, "nothing")
        with self.assertRaises(SystemExit) as caught:
            make_collage.source_widgets([missing], {"button"})
        self.assertIn(f"--data {missing}: no examples.jsonl", str(caught.exception))

        broken = write_data_set(self.root, "broken", [("s1_000", [], "train", "grounding")], ["{not json"])
        with self.assertRaises(SystemExit) as caught:
            make_collage.source_widgets([broken], {"button"})
        self.assertIn("examples.jsonl:2: not JSON", str(caught.exception))

        no_layout = write_data_set(self.root, "nolayout", [("s1_000", [], "train", "grounding")])
        os.remove(os.path.join(no_layout, "screens", "s1_000.layout.json"))
        with self.assertRaises(SystemExit) as caught:
            make_collage.source_widgets([no_layout], {"button"})
        self.assertIn("s1_000.png: no layout JSON beside it", str(caught.exception))


class Plan(unittest.TestCase):
    def pool(self):
        items = []
        for screen in range(3):
            for i, label in enumerate(LABELS):
                items.append(("d", f"screens/s{screen}.png", button(f"b{i}", label, 100 * i, width=60 + 10 * i)))
        return make_collage.by_label(items)

    def test_distinct_labels_in_distinct_cells_without_overlap(self):
        by_key = self.pool()
        cw, ch = make_collage.cell_size()
        for seed in range(50):
            plan, base = make_collage.plan_collage(by_key, 3, 5, random.Random(seed))
            with self.subTest(seed=seed):
                self.assertTrue(3 <= len(plan) <= 5)
                labels = [w["label"] for _, _, w, _ in plan]
                self.assertEqual(len(set(labels)), len(labels))
                self.assertIn(base, [(d, rel) for d, rel, _, _ in plan])
                cells = set()
                for _, _, w, (x, y, rw, rh) in plan:
                    self.assertEqual([rw, rh], w["rect"][2:])  # pasted at the widget's own size
                    col, row = x // cw, y // ch
                    cells.add((col, row))
                    # wholly inside its cell, with the margin free
                    self.assertGreaterEqual(x, col * cw + make_collage.MARGIN)
                    self.assertLessEqual(x + rw, (col + 1) * cw - make_collage.MARGIN)
                    self.assertGreaterEqual(y, row * ch + make_collage.MARGIN)
                    self.assertLessEqual(y + rh, (row + 1) * ch - make_collage.MARGIN)
                self.assertEqual(len(cells), len(plan))

    def test_never_more_widgets_than_labels_and_the_same_plan_from_the_same_seed(self):
        by_key = self.pool()
        plan, _ = make_collage.plan_collage(by_key, 10, 14, random.Random(1))
        self.assertEqual(len(plan), len(LABELS))
        again, _ = make_collage.plan_collage(by_key, 10, 14, random.Random(1))
        self.assertEqual(plan, again)
        other, _ = make_collage.plan_collage(by_key, 10, 14, random.Random(2))
        self.assertNotEqual([r for *_, r in plan], [r for *_, r in other])

    def test_examples_ask_for_each_widget_at_its_pasted_centre(self):
        plan, _ = make_collage.plan_collage(self.pool(), 4, 4, random.Random(3))
        layout = make_collage.collage_layout(plan)
        examples = make_collage.collage_examples(7, "screens/c00007.png", layout)
        self.assertEqual(len(examples), 4)
        for e, w, (_, rel, source, rect) in zip(examples, layout["widgets"], plan):
            self.assertEqual(w["rect"], rect)
            self.assertEqual(w["source"], f"{rel} {source['name']}")
            self.assertEqual(e["widget"], w["name"])
            self.assertEqual(e["images"], ["screens/c00007.png"])
            self.assertTrue(e["messages"][1]["parts"][0].endswith(f'Click the "{w["label"]}" button'))
            x, y = nc.to_model_point(rect[0] + rect[2] / 2, rect[1] + rect[3] / 2)
            self.assertEqual(e["target"], f"Action: click(start_box='<|box_start|>({x},{y})<|box_end|>')")


class CommandLine(unittest.TestCase):
    def run_tool(self, *args):
        return subprocess.run([sys.executable, os.path.join(TOOLS, "make_collage.py"), *args],
                              capture_output=True, text=True)

    def test_bad_counts_and_too_few_labels_are_refused_before_anything_is_written(self):
        with tempfile.TemporaryDirectory() as root:
            out = os.path.join(root, "out")
            r = self.run_tool("--data", root, "--out", out, "--min-buttons", "5", "--max-buttons", "4")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("--min-buttons 5 and --max-buttons 4", r.stderr)
            one = write_data_set(root, "one", [("s1_000", [button("ok", "OK", 900)], "train", "grounding")])
            r = self.run_tool("--data", one, "--out", out)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("fewer than two distinct labels of --roles button", r.stderr)
            self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
