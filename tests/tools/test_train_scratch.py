"""tools/train_nano/train_scratch.sh: the from-scratch recipe as one command, run with
DESKPILOT_DRY_RUN=1 so that it prints what it would run (no data is rendered, nothing trained).

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
TRAIN_PY = os.path.join(ROOT, "tools", "train_nano", "train.py")


def dry_run(*args):
    env = dict(os.environ, DESKPILOT_DRY_RUN="1")
    return subprocess.run(["bash", SCRIPT, *args], env=env, capture_output=True, text=True, timeout=30)


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
        self.assertEqual(flag_value(train, "--steps"), "3000")
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
        with open(TRAIN_PY, encoding="utf-8") as f:
            known = set(re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", f.read()))
        self.assertIn("--task-share", known)  # the pattern reads train.py's flags at all
        [train] = commands(dry_run(self.work).stdout, "train.py")
        given = [arg for arg in train if arg.startswith("--")]
        self.assertGreater(len(given), 30)
        self.assertEqual([flag for flag in given if flag not in known], [])


if __name__ == "__main__":
    unittest.main()
