"""tools/train_nano/nano_common.eval_out_dir: where the report tools (miss_report.py, zoom_report.py,
shift_report.py, readout_report.py) find a `deskpilot eval` run's screenshots and sessions.

Standard library only (unittest); nano_common imports transformers only inside the functions that
need it.
"""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train_nano"))
import nano_common  # noqa: E402


class EvalOutDir(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.cwd = os.getcwd()
        # As `deskpilot eval tasks -o runs/k2.json` leaves it, run in self.tmp: the report names
        # its folder relative to there.
        os.makedirs(os.path.join(self.tmp.name, "runs", "k2.json.d"))
        self.report = {"out_dir": "runs/k2.json.d", "items": []}

    def tearDown(self):
        os.chdir(self.cwd)
        self.tmp.cleanup()

    def test_from_where_eval_ran_the_named_folder(self):
        os.chdir(self.tmp.name)
        self.assertEqual(nano_common.eval_out_dir("runs/k2.json", self.report), "runs/k2.json.d")
        # The report copied away from its folder: the named one still.
        self.assertEqual(nano_common.eval_out_dir("copies/k2.json", self.report), "runs/k2.json.d")

    def test_from_elsewhere_the_folder_beside_the_report(self):
        os.chdir(os.path.join(self.tmp.name, "runs"))
        self.assertEqual(nano_common.eval_out_dir("k2.json", self.report), "k2.json.d")
        report = os.path.join(self.tmp.name, "runs", "k2.json")
        os.chdir("/")
        self.assertEqual(nano_common.eval_out_dir(report, self.report), report + ".d")

    def test_a_namesake_in_the_working_folder_is_not_taken(self):
        # Another run's folder of the same name where this one is read from.
        os.makedirs(os.path.join(self.tmp.name, "other", "runs", "k2.json.d"))
        os.chdir(os.path.join(self.tmp.name, "other"))
        report = os.path.join(self.tmp.name, "runs", "k2.json")
        self.assertEqual(nano_common.eval_out_dir(report, self.report), report + ".d")

    def test_neither_is_one_error_naming_both(self):
        os.chdir(os.path.join(self.tmp.name, "runs"))  # where runs/k2.json.d is not
        for report in (self.report, {"items": []}):
            with self.subTest(out_dir=report.get("out_dir")), self.assertRaises(ValueError) as caught:
                nano_common.eval_out_dir("moved.json", report)
            message = str(caught.exception)
            self.assertIn("moved.json:", message)
            self.assertIn(f"'{report.get('out_dir', '')}'", message)
            self.assertIn("moved.json.d", message)


if __name__ == "__main__":
    unittest.main()
