"""tools/train_nano/train_scratch.sh (the from-scratch recipe as one command: a parent, two children
of it averaged, then four more times two children of the last average averaged) and
train_child.sh (one child run of the committed line), run with DESKPILOT_DRY_RUN=1 so that they
print what they would run (no data is rendered, nothing trained). Both take the line's losses from
line_flags.sh.

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
# The script's train.py runs: the parent, then two in each of its five descendant stages.
DESCENDANT_STAGES = 5
RUNS_A_STAGE = 2
ALL_RUNS = 1 + RUNS_A_STAGE * DESCENDANT_STAGES
# The data sets it makes, in order: the parent's three, then one for each descendant run.
PARENT_DATA_SETS = 3
DATA_SET_NAMES = "stuvwyzbcefhi"


def stage_data_sets(stage):
    """The made data sets of descendant stage `stage` (1: the children), as a slice."""
    start = PARENT_DATA_SETS + RUNS_A_STAGE * (stage - 1)
    return slice(start, start + RUNS_A_STAGE)


def stage_runs(stage):
    """The train.py runs of descendant stage `stage` (1: the children; run 0 is the parent), as a slice."""
    start = 1 + RUNS_A_STAGE * (stage - 1)
    return slice(start, start + RUNS_A_STAGE)


def dry_run(*args, script=SCRIPT, every_run=None):
    env = dict(os.environ, DESKPILOT_DRY_RUN="1")
    env.pop("DESKPILOT_EVERY_RUN", None)
    if every_run is not None:
        env["DESKPILOT_EVERY_RUN"] = every_run
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


def settings(argv):
    # Each flag with the value train.py reads (the last given), or True for a flag without one.
    return {flag: flag_value(argv, flag) if value is not None else True for flag, value in flag_pairs(argv)}


def data_sets_made(stdout):
    return [(flag_value(c, "--out"), flag_value(c, "--train-seeds"), flag_value(c, "--seed"))
            for c in commands(stdout, "make_dataset.py")]


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

    def test_a_fresh_folder_gets_three_data_sets_then_the_parent(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(data_sets_made(result.stdout)[:PARENT_DATA_SETS],
                         [(f"{self.work}/data-s.part", "20300..20599", "41"),
                          (f"{self.work}/data-t.part", "20600..20899", "42"),
                          (f"{self.work}/data-u.part", "20900..21199", "46")])
        parent = commands(result.stdout, "train.py")[0]
        self.assertEqual(flag_value(parent, "--data"), ",".join(f"{self.work}/data-{n}" for n in "stu"))
        self.assertEqual(flag_value(parent, "--work"), f"{self.work}/run")
        self.assertEqual(flag_value(parent, "--out"), f"{self.work}/run/model")
        self.assertEqual(flag_value(parent, "--task-share"), "1/3")
        self.assertEqual(flag_value(parent, "--seed"), "49")
        self.assertEqual(flag_value(parent, "--optimizer"), "muon")
        self.assertEqual(flag_value(parent, "--steps"), "1200")
        self.assertEqual(flag_value(parent, "--lr"), "1e-3")
        self.assertIsNone(flag_value(parent, "--init"))
        self.assertEqual(flag_value(parent, "--muon-dtype"), "bfloat16")

    def check_generation(self, stdout, runs, init, kind, names_and_seeds):
        # Two runs of the parent's recipe from init, side by side, each on its own fresh data set
        # and in its own folder WORK/KIND-NAME.
        parent = commands(stdout, "train.py")[0]
        self.assertEqual(len(runs), RUNS_A_STAGE)
        self.assertEqual([(flag_value(r, "--data"), flag_value(r, "--seed")) for r in runs],
                         [(f"{self.work}/data-{n}", seed) for n, seed in names_and_seeds])
        self.assertEqual([flag_value(r, "--work") for r in runs],
                         [f"{self.work}/{kind}-{n}" for n, _ in names_and_seeds])
        for run in runs:
            self.assertEqual(flag_value(run, "--init"), init)
            self.assertEqual(flag_value(run, "--lr"), "2e-4")
            self.assertEqual(flag_value(run, "--steps"), "250")
            self.assertEqual(flag_value(run, "--threads"), "1")  # two side by side, one a core
            self.assertEqual(flag_value(run, "--optimizer"), "muon")
            self.assertEqual(flag_value(run, "--muon-dtype"), "bfloat16")
            # The parent's recipe otherwise: the same flags with the same values.
            same = {flag: value for flag, value in settings(parent).items()
                    if flag not in ("--data", "--work", "--out", "--lr", "--warmup", "--seed", "--steps", "--threads")}
            run_settings = settings(run)
            self.assertEqual({flag: run_settings.get(flag) for flag in same}, same)

    def check_averaged_from(self, stdout, init, kind, names, index, out):
        # The stage's init (the previous average) is written before its first run starts, and the
        # stage's runs are averaged (the index-th average) into out.
        lines = stdout.splitlines()
        init_written = next(i for i, line in enumerate(lines) if f"-o {init}" in line)
        first_run = next(i for i, line in enumerate(lines) if f"{kind}-{names[0]}" in line)
        self.assertLess(init_written, first_run)
        averages = commands(stdout, "average_states.py")
        self.assertEqual(averages[index][2:], [f"{self.work}/{kind}-{n}/state.pt" for n in names] + ["-o", out])

    def test_then_two_children_of_the_parent_on_fresh_seeds_side_by_side_averaged(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(data_sets_made(result.stdout)[stage_data_sets(1)],
                         [(f"{self.work}/data-v.part", "21200..21499", "51"),
                          (f"{self.work}/data-w.part", "21500..21799", "52")])
        children = commands(result.stdout, "train.py")[stage_runs(1)]
        self.check_generation(result.stdout, children, f"{self.work}/run/state.pt", "child",
                              (("v", "54"), ("w", "56")))
        self.assertEqual([flag_value(c, "--out") for c in children], [f"{self.work}/child-{n}/model" for n in "vw"])
        average = commands(result.stdout, "average_states.py")[0]
        self.assertEqual(average[2:], [f"{self.work}/child-{n}/state.pt" for n in "vw"] +
                         ["-o", f"{self.work}/children.pt"])

    def test_then_two_grandchildren_of_the_childrens_average_on_more_fresh_seeds_averaged(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        made = data_sets_made(result.stdout)
        self.assertEqual(made[stage_data_sets(2)],
                         [(f"{self.work}/data-y.part", "22100..22399", "61"),
                          (f"{self.work}/data-z.part", "22400..22699", "62")])
        runs = commands(result.stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        grandchildren = runs[stage_runs(2)]
        self.check_generation(result.stdout, grandchildren, f"{self.work}/children.pt", "grandchild",
                              (("y", "64"), ("z", "66")))
        self.check_averaged_from(result.stdout, f"{self.work}/children.pt", "grandchild", "yz", 1,
                                 f"{self.work}/grandchildren.pt")

    def test_then_two_great_grandchildren_of_the_grandchildrens_average_on_a_third_round_averaged(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        made = data_sets_made(result.stdout)
        self.assertEqual(made[stage_data_sets(3)],
                         [(f"{self.work}/data-b.part", "23000..23299", "71"),
                          (f"{self.work}/data-c.part", "23300..23599", "72")])
        runs = commands(result.stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        great_grandchildren = runs[stage_runs(3)]
        self.check_generation(result.stdout, great_grandchildren, f"{self.work}/grandchildren.pt",
                              "great-grandchild", (("b", "74"), ("c", "76")))
        self.check_averaged_from(result.stdout, f"{self.work}/grandchildren.pt", "great-grandchild", "bc", 2,
                                 f"{self.work}/great-grandchildren.pt")

    def test_then_two_great_great_grandchildren_of_that_average_on_a_fourth_round_averaged(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        made = data_sets_made(result.stdout)
        self.assertEqual(made[stage_data_sets(4)],
                         [(f"{self.work}/data-e.part", "23900..24199", "81"),
                          (f"{self.work}/data-f.part", "24200..24499", "82")])
        runs = commands(result.stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        self.check_generation(result.stdout, runs[stage_runs(4)], f"{self.work}/great-grandchildren.pt",
                              "great-great-grandchild", (("e", "84"), ("f", "86")))
        self.check_averaged_from(result.stdout, f"{self.work}/great-grandchildren.pt", "great-great-grandchild",
                                 "ef", 3, f"{self.work}/great-great-grandchildren.pt")

    def test_then_two_great_great_great_grandchildren_of_that_average_on_a_fifth_round_exported(self):
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        made = data_sets_made(result.stdout)
        self.assertEqual(made[stage_data_sets(5)],
                         [(f"{self.work}/data-h.part", "24800..25099", "91"),
                          (f"{self.work}/data-i.part", "25100..25399", "92")])
        seeds = [seed for _, train, _ in made for seed in range(*map(int, train.split("..")))]
        self.assertEqual(len(seeds), len(set(seeds)))  # every set's seeds are its own
        runs = commands(result.stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        self.check_generation(result.stdout, runs[stage_runs(5)], f"{self.work}/great-great-grandchildren.pt",
                              "great-great-great-grandchild", (("h", "94"), ("i", "96")))
        train_seeds = [flag_value(r, "--seed") for r in runs]
        self.assertEqual(len(train_seeds), len(set(train_seeds)))  # no run repeats another's order
        self.check_averaged_from(result.stdout, f"{self.work}/great-great-grandchildren.pt",
                                 "great-great-great-grandchild", "hi", 4,
                                 f"{self.work}/great-great-great-grandchildren.pt")
        self.assertEqual(len(commands(result.stdout, "average_states.py")), 5)
        [export] = commands(result.stdout, "export_state.py")
        self.assertEqual(export[2:4], [f"{self.work}/great-great-great-grandchildren.pt", f"{self.work}/model"])
        self.assertIn(f"--model-dir {self.work}/model ", result.stdout)

    def write_parent_log(self, last_step):
        os.makedirs(f"{self.work}/run")
        with open(f"{self.work}/run/log.jsonl", "w") as f:
            for step in range(last_step - 1, last_step + 1):
                f.write(f'{{"step": {step}, "loss": 0.3, "lr": 0.0001}}\n')

    def test_the_children_wait_for_the_parents_last_step(self):
        self.write_parent_log(600)  # stopped by --max-seconds
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(commands(result.stdout, "train.py")), 1)
        self.assertEqual(commands(result.stdout, "average_states.py"), [])
        self.assertIn("stopped at step 600 of 1200; run the same command again", result.stdout)

    def test_a_finished_parent_gets_its_children(self):
        self.write_parent_log(1200)
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(commands(result.stdout, "train.py")), ALL_RUNS)

    def test_a_stage_whose_average_is_there_is_done_and_not_run_again(self):
        self.write_parent_log(1200)
        stages = [("child", "run/state.pt", "children.pt"), ("grandchild", "children.pt", "grandchildren.pt"),
                  ("great-grandchild", "grandchildren.pt", "great-grandchildren.pt"),
                  ("great-great-grandchild", "great-grandchildren.pt", "great-great-grandchildren.pt"),
                  ("great-great-great-grandchild", "great-great-grandchildren.pt",
                   "great-great-great-grandchildren.pt")]
        for done in range(1, DESCENDANT_STAGES + 1):
            open(f"{self.work}/{stages[done - 1][2]}", "w").close()
            result = dry_run(self.work)
            self.assertEqual(result.returncode, 0, result.stderr)
            descendants = commands(result.stdout, "train.py")[1:]
            # The stages after the done ones, each from the average before it.
            self.assertEqual([(flag_value(r, "--work").rsplit("/", 1)[-1].rsplit("-", 1)[0], flag_value(r, "--init"))
                              for r in descendants],
                             [(kind, f"{self.work}/{init}") for kind, init, _ in stages[done:]
                              for _ in range(RUNS_A_STAGE)])
            self.assertEqual([c[-1] for c in commands(result.stdout, "average_states.py")],
                             [f"{self.work}/{out}" for _, _, out in stages[done:]])
            self.assertIn(f"{stages[done - 1][0]}: {self.work}/{stages[done - 1][2]} is there, the stage is done",
                          result.stdout)
            self.assertEqual(len(commands(result.stdout, "export_state.py")), 1)

    def test_the_parents_last_step_is_the_last_steps_flag_given(self):
        self.write_parent_log(1200)
        for flags, descendants in ((["--steps", "1800"], 0), (["--steps=1800"], 0),
                                   (["--steps", "1800", "--steps", "1200"], ALL_RUNS - 1)):
            result = dry_run(self.work, *flags)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(len(commands(result.stdout, "train.py")) - 1, descendants, flags)

    def run_with_a_failing(self, failing):
        # A stand-in for python3 (train.py needs torch, which the suite does not have): it records
        # each command and fails the train.py run whose --work folder is named (that folder alone: not
        # grandchild-w for child-w), as a killed or refused run would. Returns the programs run, in order.
        self.write_parent_log(1200)
        for name in DATA_SET_NAMES:
            os.makedirs(f"{self.work}/data-{name}")
            open(f"{self.work}/data-{name}/examples.jsonl", "w").close()
        bin_dir = os.path.join(self.work, "bin")
        os.makedirs(bin_dir)
        with open(os.path.join(bin_dir, "python3"), "w") as f:
            f.write('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\n'
                    f'case "$*" in *train.py*"--work "*"/{failing} "*) echo "train.py: refused" >&2; exit 1 ;; esac\n')
        os.chmod(os.path.join(bin_dir, "python3"), 0o755)
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
        env.pop("DESKPILOT_DRY_RUN", None)
        result = subprocess.run(["bash", SCRIPT, self.work], env=env, capture_output=True, text=True, timeout=30)
        with open(os.path.join(bin_dir, "calls")) as f:
            calls = f.read().splitlines()
        with open(f"{self.work}/{failing}.out") as f:
            self.assertIn("train.py: refused", f.read())
        return result, [call.split()[0].rsplit("/", 1)[-1] for call in calls], calls

    def test_train_py_takes_no_abbreviated_flag_that_the_gate_would_not_see(self):
        # The gate reads --steps in bash; argparse by default also takes "--ste 1800" as --steps.
        with open(TRAIN_PY, encoding="utf-8") as f:
            parser = re.search(r"argparse\.ArgumentParser\(([^)]*)\)", f.read()).group(1)
        self.assertIn("allow_abbrev=False", parser)

    def test_a_child_that_fails_fails_the_command(self):
        result, programs, _ = self.run_with_a_failing("child-w")
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("a child run failed", result.stderr)
        self.assertIn(f"see {self.work}/child-w.out (", result.stderr)  # that one alone
        # The parent (resumed, done) and both children; nothing averaged over a missing child.
        self.assertEqual(programs, ["train.py"] * (1 + RUNS_A_STAGE))

    def check_a_failing_run(self, kind, name, averaged, init):
        # A run of the stage after `averaged` averages fails: the command exits 1 naming that run's
        # log alone; the stages before it are averaged (the last into init, its stage's start),
        # its own runs are not, and nothing is exported.
        result, programs, calls = self.run_with_a_failing(f"{kind}-{name}")
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(f"a {kind} run failed", result.stderr)
        self.assertIn(f"see {self.work}/{kind}-{name}.out (", result.stderr)
        runs = 1 + RUNS_A_STAGE
        stage = ["average_states.py"] + ["train.py"] * RUNS_A_STAGE
        self.assertEqual(programs, ["train.py"] * runs + stage * averaged)
        self.assertTrue(calls[runs * averaged].endswith(f"-o {self.work}/{init}"))

    def test_a_grandchild_that_fails_fails_the_command_before_the_export(self):
        self.check_a_failing_run("grandchild", "z", 1, "children.pt")

    def test_a_great_grandchild_that_fails_fails_the_command_before_the_export(self):
        self.check_a_failing_run("great-grandchild", "c", 2, "grandchildren.pt")

    def test_a_great_great_grandchild_that_fails_fails_the_command_before_the_export(self):
        self.check_a_failing_run("great-great-grandchild", "f", 3, "great-grandchildren.pt")

    def test_a_great_great_great_grandchild_that_fails_fails_the_command_before_the_export(self):
        self.check_a_failing_run("great-great-great-grandchild", "i", 4, "great-great-grandchildren.pt")

    def test_a_made_data_set_is_kept_and_a_half_written_one_made_again(self):
        os.makedirs(f"{self.work}/data-s")
        open(f"{self.work}/data-s/examples.jsonl", "w").close()
        os.makedirs(f"{self.work}/data-t")  # no examples.jsonl: not finished
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        outs = [flag_value(c, "--out") for c in commands(result.stdout, "make_dataset.py")]
        self.assertEqual(outs, [f"{self.work}/data-{n}.part" for n in DATA_SET_NAMES[1:]])
        lines = result.stdout.splitlines()
        # Into .part first, moved into place only after make_dataset.py succeeded.
        self.assertIn(f"rm -rf {self.work}/data-t.part", lines[0])
        self.assertIn(f"mv {self.work}/data-t.part {self.work}/data-t", lines[2])

    def test_every_data_set_renders_four_sandboxes_a_core(self):
        # A render mostly waits on the sandbox's timers, so the sets are made with more jobs than
        # cores; make_dataset.py's output does not depend on --jobs.
        result = dry_run(self.work)
        self.assertEqual(result.returncode, 0, result.stderr)
        cores = int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)
        made = commands(result.stdout, "make_dataset.py")
        self.assertEqual(len(made), PARENT_DATA_SETS + RUNS_A_STAGE * DESCENDANT_STAGES)
        self.assertEqual({flag_value(c, "--jobs") for c in made}, {str(4 * cores)})

    def test_more_flags_come_last_in_the_parents_command_so_they_win(self):
        result = dry_run(self.work, "--max-seconds", "7200", "--steps", "1800")
        self.assertEqual(result.returncode, 0, result.stderr)
        parent, *children = commands(result.stdout, "train.py")
        self.assertEqual(parent[-4:], ["--max-seconds", "7200", "--steps", "1800"])
        self.assertEqual(flag_value(parent, "--steps"), "1800")
        for child in children:  # the flags are the parent's alone
            self.assertEqual(flag_value(child, "--steps"), "250")
            self.assertNotIn("--max-seconds", child)

    def test_every_run_flags_reach_every_run_after_the_recipe_and_before_the_parents_own(self):
        result = dry_run(self.work, "--steps", "1800", every_run="--autocast --eval-every 100")
        self.assertEqual(result.returncode, 0, result.stderr)
        runs = commands(result.stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        for run in runs:
            # After the line's --no-autocast, so that argparse's last one wins.
            self.assertGreater(run.index("--autocast"), run.index("--no-autocast"))
            self.assertEqual(flag_value(run, "--eval-every"), "100")
        self.assertEqual(runs[0][-2:], ["--steps", "1800"])
        self.assertNotIn("--autocast", commands(dry_run(self.work).stdout, "train.py")[0])

    def test_train_py_can_switch_autocast_back_on_after_the_lines_no_autocast(self):
        with open(TRAIN_PY, encoding="utf-8") as f:
            source = f.read()
        for flag, action in (("--no-autocast", "store_false"), ("--autocast", "store_true")):
            self.assertRegex(source, rf'"{flag}", dest="autocast", action="{action}"')

    def test_every_flag_it_gives_train_py_exists_there(self):
        known = train_py_flags()
        self.assertIn("--task-share", known)  # the pattern reads train.py's flags at all
        runs = commands(dry_run(self.work).stdout, "train.py")
        self.assertEqual(len(runs), ALL_RUNS)
        for run in runs:
            given = [arg for arg in run if arg.startswith("--")]
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
            # The parent's; the children's are the parent's but for their own few (tested above).
            scratch = commands(dry_run(work).stdout, "train.py")[0]
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
