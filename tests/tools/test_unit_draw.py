"""tools/train_nano/unit_draw.py: the seeded order of training units, with and without --task-share.

Standard library only (unittest), so that the suite runs it with Debian's python3 and no PyPI
package; train.py itself needs torch and is not run here.
"""
import fractions
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train_nano"))
import unit_draw  # noqa: E402

# Units as train.py has them: tuples whose first item says the kind. 7 task units, 11 others, so
# that the pools' epochs end at different steps.
UNITS = [("task", i) for i in range(7)] + [("grounding", i) for i in range(11)]
IS_TASK = lambda unit: unit[0] == "task"  # noqa: E731


def steps(draw, first, count, accumulate=6):
    return [draw.draw(step, accumulate) for step in range(first, first + count)]


class ParseShare(unittest.TestCase):
    def test_fractions_and_decimals(self):
        self.assertEqual(unit_draw.parse_share("1/3"), fractions.Fraction(1, 3))
        self.assertEqual(unit_draw.parse_share("0.25"), fractions.Fraction(1, 4))

    def test_bad_values_name_the_input(self):
        for text, problem in [("abc", "not a fraction"), ("1/0", "not a fraction"), ("", "not a fraction"),
                              ("0", "not between 0 and 1"), ("1", "not between 0 and 1"),
                              ("-0.5", "not between 0 and 1"), ("3/2", "not between 0 and 1")]:
            with self.subTest(text=text), self.assertRaises(ValueError) as caught:
                unit_draw.parse_share(text)
            self.assertIn(f"'{text}'", str(caught.exception))
            self.assertIn(problem, str(caught.exception))


class OnePool(unittest.TestCase):
    def test_is_train_py_original_order_across_epochs(self):
        # The order before --task-share: a shuffle seeded by seed * 1000003 + epoch, all units in one.
        seed, expected = 49, []
        for epoch in range(4):
            idx = list(range(len(UNITS)))
            random.Random(seed * 1000003 + epoch).shuffle(idx)
            expected += [UNITS[i] for i in idx]
        drawn = sum(steps(unit_draw.UnitDraw(UNITS, IS_TASK, seed), 0, 12), [])
        self.assertEqual(drawn, expected[:72])

    def test_old_state_without_draws_resumes(self):
        whole = sum(steps(unit_draw.UnitDraw(UNITS, IS_TASK, 7), 0, 10), [])
        resumed = unit_draw.UnitDraw(UNITS, IS_TASK, 7)
        resumed.load(None, seen_before_draws=24)  # a state.pt from before unit_draw.py: `seen` only
        self.assertEqual(sum(steps(resumed, 4, 6), []), whole[24:])


class Share(unittest.TestCase):
    def test_task_units_per_step_follow_the_share(self):
        third = unit_draw.UnitDraw(UNITS, IS_TASK, 1, fractions.Fraction(1, 3))
        self.assertEqual([sum(map(IS_TASK, s)) for s in steps(third, 0, 9)], [2] * 9)
        quarter = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 1, fractions.Fraction(1, 4)), 0, 10)
        counts = [sum(map(IS_TASK, s)) for s in quarter]
        self.assertEqual(counts, [1, 2] * 5)  # 1.5 a step: floor((s + 1) * 1.5) - floor(s * 1.5)
        for s in quarter:
            kinds = [IS_TASK(u) for u in s]
            self.assertEqual(kinds, sorted(kinds, reverse=True))  # task units first

    def test_each_pool_is_a_permutation_per_epoch(self):
        draw = unit_draw.UnitDraw(UNITS, IS_TASK, 3, fractions.Fraction(1, 3))
        drawn = sum(steps(draw, 0, 21), [])  # 42 task units (6 epochs of 7), 84 others (not whole)
        tasks = [u for u in drawn if IS_TASK(u)]
        others = [u for u in drawn if not IS_TASK(u)]
        for epoch in range(6):
            self.assertEqual(sorted(tasks[7 * epoch:7 * epoch + 7]), sorted(UNITS[:7]))
        for epoch in range(7):
            self.assertEqual(sorted(others[11 * epoch:11 * epoch + 11]), sorted(UNITS[7:]))
        self.assertNotEqual(tasks[:7], tasks[7:14])  # a fresh order each epoch

    def test_the_seed_decides_the_order(self):
        a = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 3, fractions.Fraction(1, 3)), 0, 6)
        b = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 3, fractions.Fraction(1, 3)), 0, 6)
        c = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 4, fractions.Fraction(1, 3)), 0, 6)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_a_resumed_draw_repeats_the_rest(self):
        share = fractions.Fraction(1, 4)
        whole = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 5, share), 0, 30)
        first = unit_draw.UnitDraw(UNITS, IS_TASK, 5, share)
        steps(first, 0, 16)
        saved = first.state()
        self.assertEqual(saved, {"share": "1/4", "seen": {"task": 24, "other": 72}})
        resumed = unit_draw.UnitDraw(UNITS, IS_TASK, 5, unit_draw.parse_share("0.25"))
        resumed.load(saved)
        self.assertEqual(steps(resumed, 16, 14), whole[16:])

    def test_resume_with_another_share_is_refused(self):
        saved = unit_draw.UnitDraw(UNITS, IS_TASK, 5, fractions.Fraction(1, 3)).state()
        for share, said in [(fractions.Fraction(1, 2), "not 1/2"), (None, "not none")]:
            with self.subTest(share=share), self.assertRaises(ValueError) as caught:
                unit_draw.UnitDraw(UNITS, IS_TASK, 5, share).load(saved)
            self.assertIn("--task-share 1/3", str(caught.exception))
            self.assertIn(said, str(caught.exception))
        with self.assertRaises(ValueError) as caught:  # a state from a run without a share
            unit_draw.UnitDraw(UNITS, IS_TASK, 5, fractions.Fraction(1, 3)).load(None, seen_before_draws=12)
        self.assertIn("--task-share none, not 1/3", str(caught.exception))

    def test_a_share_needs_both_kinds(self):
        for units, missing in [(UNITS[7:], "no task units"), (UNITS[:7], "no other units")]:
            with self.subTest(missing=missing), self.assertRaises(ValueError) as caught:
                unit_draw.UnitDraw(units, IS_TASK, 1, fractions.Fraction(1, 3))
            self.assertIn(missing, str(caught.exception))
        self.assertEqual(unit_draw.UnitDraw(UNITS[7:], IS_TASK, 1).counts(), {"all": 11})  # no share: fine


class Schedule(unittest.TestCase):
    def test_parse(self):
        third, sixth, half = fractions.Fraction(1, 3), fractions.Fraction(1, 6), fractions.Fraction(1, 2)
        self.assertEqual(unit_draw.parse_schedule("1/3"), [(0, third)])
        self.assertEqual(unit_draw.parse_schedule("1/6,1/2@1364,1/3@2000"), [(0, sixth), (1364, half), (2000, third)])
        self.assertEqual(unit_draw.schedule_text(unit_draw.parse_schedule("0.5,1/3@7")), "1/2,1/3@7")
        for text, said in [("1/6@5", "takes no @STEP"), ("1/6,1/2", "needs @STEP"), ("1/6,1/2@x", "'@x' is not a step"),
                           ("1/6,1/2@9,1/3@9", "'@9' is not a step after 9"), ("1/6,2@9", "not between 0 and 1")]:
            with self.subTest(text=text), self.assertRaises(ValueError) as caught:
                unit_draw.parse_schedule(text)
            self.assertIn(said, str(caught.exception))

    def test_the_share_changes_at_its_step(self):
        draw = unit_draw.UnitDraw(UNITS, IS_TASK, 2, unit_draw.parse_schedule("1/6,1/2@4"))
        self.assertEqual([sum(map(IS_TASK, s)) for s in steps(draw, 0, 8)], [1, 1, 1, 1, 3, 3, 3, 3])

    def test_a_run_continued_with_a_later_share_is_the_schedule_from_scratch(self):
        schedule = unit_draw.parse_schedule("1/6,1/2@10")
        whole = steps(unit_draw.UnitDraw(UNITS, IS_TASK, 5, schedule), 0, 30)
        first = unit_draw.UnitDraw(UNITS, IS_TASK, 5, fractions.Fraction(1, 6))  # run with 1/6 and stopped
        self.assertEqual(steps(first, 0, 10), whole[:10])
        continued = unit_draw.UnitDraw(UNITS, IS_TASK, 5, schedule)
        continued.load(first.state(), step=10)
        self.assertEqual(steps(continued, 10, 20), whole[10:])
        again = unit_draw.UnitDraw(UNITS, IS_TASK, 5, schedule)  # its own state resumes as before
        again.load(continued.state(), step=30)
        self.assertEqual(again.state(), {"share": "1/6,1/2@10", "seen": continued.state()["seen"]})

    def test_a_schedule_that_changes_the_steps_taken_is_refused(self):
        first = unit_draw.UnitDraw(UNITS, IS_TASK, 5, fractions.Fraction(1, 6))
        steps(first, 0, 10)
        for text in ["1/6,1/2@9", "1/3", "1/3,1/6@2"]:
            with self.subTest(text=text), self.assertRaises(ValueError) as caught:
                unit_draw.UnitDraw(UNITS, IS_TASK, 5, unit_draw.parse_schedule(text)).load(first.state(), step=10)
            self.assertIn(f"--task-share 1/6, not {text} before step 10", str(caught.exception))
        unit_draw.UnitDraw(UNITS, IS_TASK, 5, unit_draw.parse_schedule("1/6,1/2@10")).load(first.state(), step=10)
        later = unit_draw.UnitDraw(UNITS, IS_TASK, 5, unit_draw.parse_schedule("1/6,1/3@12"))
        later.load({"share": "1/6,1/2@11", "seen": first.state()["seen"]}, step=10)  # differ from step 11 on only


if __name__ == "__main__":
    unittest.main()
