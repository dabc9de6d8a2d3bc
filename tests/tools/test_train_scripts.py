"""tools/train_nano/train_scratch.sh (the from-scratch recipe as one command) and train_child.sh (one
child run of the committed line), run with DESKPILOT_DRY_RUN=1 so that they print what they would
run (no data is rendered, nothing trained). Both take the line's losses from line_flags.sh.

Standard library only (unittest); train.py needs torch and is not run here. Its flags are read from
its source, so that a flag renamed there and not in the script fails here, not four hours into a run.
"""
import os
import re
import shlex
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SCRIPT = os.path.join(ROOT, "tools", "train_nano", "train_scratch.sh")
CHILD = os.path.join(ROOT, "tools", "train_nano", "train_child.sh")
LINE_FLAGS = os.path.join(ROOT, "tools", "train_nano", "line_flags.sh")
TRAIN_PY = os.path.join(ROOT, "tools", "train_nano", "train.py")


def dry_run(*args, script=SCRIPT):
    env = dict(os.environ, DESKPILOT_DRY_RUN="1")
    return subprocess.run(["bash", script, *args], env=env, capture_output=True, text=True, timeout=30)


def train_py_flags():
    with open(TRAIN_PY, encoding="utf-8") as f:
        return set(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", f.read()))


def line_flags():
    # The array as bash sees it, one word a line.
    script = f'source "{LINE_FLAGS}"; printf "%s\\n" "${{line_flags[@]}}"'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, check=True)
    return result.stdout.split()


def flag_pairs(argv):
    # Each flag with the word after it when that is its value, e.g. ("--group", "8"), ("--pack", None).
    return [(arg, argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None)
            for i, arg in enumerate(argv) if arg.startswith("--")]


def commands(stdout, program):
    return [shlex.split(line) for line in stdout.splitlines() if program in line]


def flag_value(argv, flag):
    # The last one wins, as with argparse.
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]
    return values[-1] if values else None


class TrainScratch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.work = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_without_a_work_folder_it_prints_its_usage(self):
        result = subprocess.run(["bash", SCRIPT], capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage:", result.stderr)

    def test_a_fresh_folder_gets_three_data_sets_then_one_run(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        made = commands(result.stdout, "make_dataset.py")
        self.assertEqual([(flag_value(c, "--out"), flag_value(c, "--train-seeds"), flag_value(c, "--seed"))
                          for c in made],
                         [(f"{self.work}/data-s.part", "20300..20599", "41"),
                          (f"{self.work}/data-t.part", "20600..20899", "42"),
                          (f"{self.work}/data-u.part", "20900..21199", "46")])
        [train] = commands(result.stdout, "train.py")
        self.assertEqual(flag_value(train, "--data"), ",".join(f"{self.work}/data-{n}" for n in "stu"))
        self.assertEqual(flag_value(train, "--work"), f"{self.work}/run")
        self.assertEqual(flag_value(train, "--task-share"), "1/3")
        self.assertEqual(flag_value(train, "--seed"), "49")
        self.assertEqual(flag_value(train, "--optimizer"), "muon")
        self.assertEqual(flag_value(train, "--steps"), "1200")
        self.assertIn(f"{self.work}/run/model", result.stdout.split("train.py", 1)[1])

    def test_a_made_data_set_is_kept_and_a_half_written_one_made_again(self):
        os.makedirs(f"{self.work}/data-s")
        open(f"{self.work}/data-s/examples.jsonl", "w").close()
        os.makedirs(f"{self.work}/data-t")  # no examples.jsonl: not finished
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        outs = [flag_value(c, "--out") for c in commands(result.stdout, "make_dataset.py")]
        self.assertEqual(outs, [f"{self.work}/data-t.part", f"{self.work}/data-u.part"])
        lines = result.stdout.splitlines()
        # Into .part first, moved into place only after make_dataset.py succeeded.
        self.assertIn(f"rm -rf {self.work}/data-t.part", lines[0])
        self.assertIn(f"mv {self.work}/data-t.part {self.work}/data-t", lines[2])

    def test_more_flags_come_last_so_they_win(self):
        result = dry_run(self.work, "--max-seconds", "7200", "--steps", "1800")
        self.assertEqual(result.returncode, 0, result.stderr)
        [train] = commands(result.stdout, "train.py")
        self.assertEqual(train[-4:], ["--max-seconds", "7200", "--steps", "1800"])
        self.assertEqual(flag_value(train, "--steps"), "1800")

    def test_every_flag_it_gives_train_py_exists_there(self):
        known = train_py_flags()
        self.assertIn("--task-share", known)  # the pattern reads train.py's flags at all
        [train] = commands(dry_run(self.work).stdout, "train.py")
        given = [arg for arg in train if arg.startswith("--")]
        self.assertGreater(len(given), 30)
        self.assertEqual([flag for flag in given if flag not in known], [])


class TrainChild(unittest.TestCase):
    def test_without_its_four_arguments_it_prints_its_usage(self):
        result = subprocess.run(["bash", CHILD, "data", "init", "work"], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage:", result.stderr)

    def test_a_child_starts_from_init_at_a_low_peak_and_more_flags_win(self):
        result = dry_run("data-n13", "models/deskpilot-nano", "work/c1", "94", "--steps", "100", script=CHILD)
        self.assertEqual(result.returncode, 0, result.stderr)
        [train] = commands(result.stdout, "train.py")
        self.assertEqual(flag_value(train, "--data"), "data-n13")
        self.assertEqual(flag_value(train, "--init"), "models/deskpilot-nano")
        self.assertEqual(flag_value(train, "--out"), "work/c1/model")
        self.assertEqual(flag_value(train, "--seed"), "94")
        self.assertEqual(flag_value(train, "--lr"), "5e-5")
        self.assertEqual(flag_value(train, "--accumulate"), "8")
        self.assertEqual(train[-2:], ["--steps", "100"])
        self.assertEqual(flag_value(train, "--steps"), "100")
        known = train_py_flags()
        self.assertEqual([arg for arg in train if arg.startswith("--") and arg not in known], [])


class LineFlags(unittest.TestCase):
    def test_both_scripts_train_with_every_line_flag_and_its_value(self):
        shared = flag_pairs(line_flags())
        self.assertIn(("--pointer-own-rows", None), shared)
        self.assertIn(("--contrast-aux", "1"), shared)
        self.assertGreater(len(shared), 15)
        with tempfile.TemporaryDirectory() as work:
            [scratch] = commands(dry_run(work).stdout, "train.py")
        [child] = commands(dry_run("d", "i", "w", "1", script=CHILD).stdout, "train.py")
        for name, argv in (("train_scratch.sh", scratch), ("train_child.sh", child)):
            # The value that counts is the last one given, as with argparse.
            given = dict(flag_pairs(argv))
            self.assertEqual([(flag, value) for flag, value in shared
                              if flag not in given or (value is not None and flag_value(argv, flag) != value)],
                             [], name)

    def test_the_scripts_no_longer_spell_the_line_flags_out(self):
        # A loss added to line_flags.sh reaches both runs only while neither keeps its own copy.
        for script in (SCRIPT, CHILD):
            with open(script, encoding="utf-8") as f:
                text = f.read()
            self.assertIn('"${line_flags[@]}"', text, script)
            for flag in ("--parse-aux", "--contrast-bank", "--pointer-own-rows", "--copy-sigma"):
                self.assertNotIn(flag, text, script)


if __name__ == "__main__":
    unittest.main()
