"""Which training units each optimiser step takes, in a seeded order that a resumed run repeats.

Without a share, every unit is in one pool: a fresh permutation of all units per epoch, drawn from
the seed and the epoch, `accumulate` units a step (train.py's order since the first run, kept so
that older states resume as they were).

With a share (--task-share, a fraction such as 1/3), task units and the others (grounding, read and
parse units) are two pools, each with its own permutation per epoch of that pool. Step s takes
floor((s + 1) * accumulate * share) - floor(s * accumulate * share) task units and the rest of its
`accumulate` from the other pool, so that both kinds are in the mix at a fixed ratio however many
units of each kind the data has. Why: with one pool, the mix is the data's (about 55% task units,
which cost about 2.4 times a grounding unit each), and training one kind after the other loses the
first kind's skill in minutes (train_nano/README.md, the forty-second run).

A share may change at given steps (a schedule, '1/6,1/2@1364': 1/6 from step 0, 1/2 from step
1364), so that a run can ground first and take more tasks later. A resumed run may be given a
schedule that differs from its state's only from the state's step on: the steps already taken were
drawn the same way either way (the forty-eighth run continued a 1/6 run with 1/2 so).
"""
import fractions
import math
import random


def parse_share(text):
    """A share as a fraction in (0, 1): '1/3', '0.25'. ValueError names the problem."""
    try:
        share = fractions.Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"'{text}' is not a fraction (e.g. 1/3 or 0.25)") from None
    if not 0 < share < 1:
        raise ValueError(f"'{text}' is not between 0 and 1 (both kinds must be in the mix)")
    return share


def parse_schedule(text):
    """A share or a schedule of shares, 'SHARE[,SHARE@STEP]...' with rising steps, as a list of
    (first step, share): '1/3' -> [(0, 1/3)]; '1/6,1/2@1364' -> [(0, 1/6), (1364, 1/2)].
    ValueError names the problem."""
    schedule = []
    for k, piece in enumerate(text.split(",")):
        share, at, step = piece.partition("@")
        if k == 0 and at:
            raise ValueError(f"'{text}': the first share starts at step 0 and takes no @STEP")
        if k > 0 and not at:
            raise ValueError(f"'{text}': '{piece}' needs @STEP, the step it starts at")
        start = 0
        if at:
            if not step.isdigit() or int(step) <= schedule[-1][0]:
                raise ValueError(f"'{text}': '@{step}' is not a step after {schedule[-1][0]}")
            start = int(step)
        schedule.append((start, parse_share(share)))
    return schedule


def schedule_text(schedule):
    """parse_schedule's inverse ('1/3' for one share, as states before schedules wrote it)."""
    return ",".join(str(share) if start == 0 else f"{share}@{start}" for start, share in schedule)


def share_at(schedule, step):
    return [share for start, share in schedule if start <= step][-1]


def permutation(n, seed, epoch, pool=None):
    idx = list(range(n))
    # The one-pool order is train.py's original, so that older states resume as they were.
    rng = random.Random(seed * 1000003 + epoch) if pool is None else random.Random(f"{seed}/{pool}/{epoch}")
    rng.shuffle(idx)
    return idx


class UnitDraw:
    def __init__(self, units, is_task, seed, share=None):
        """share: None (one pool), a Fraction, or a parse_schedule() list."""
        if isinstance(share, fractions.Fraction):
            share = [(0, share)]
        self.seed, self.share = seed, share
        if share is None:
            self.pools = {None: units}
        else:
            self.pools = {"task": [u for u in units if is_task(u)], "other": [u for u in units if not is_task(u)]}
            for name, pool in self.pools.items():
                if not pool:
                    raise ValueError(f"no {name} units to draw a share from")
        self.seen = {name: 0 for name in self.pools}
        self._orders = {}

    def counts(self):
        return {("all" if name is None else name): len(pool) for name, pool in self.pools.items()}

    def task_units_at(self, step, accumulate):
        share = share_at(self.share, step)
        return math.floor((step + 1) * accumulate * share) - math.floor(step * accumulate * share)

    def _next(self, name):
        pool = self.pools[name]
        epoch, pos = divmod(self.seen[name], len(pool))
        if self._orders.get(name, (None,))[0] != epoch:
            self._orders[name] = (epoch, permutation(len(pool), self.seed, epoch, name))
        self.seen[name] += 1
        return pool[self._orders[name][1][pos]]

    def draw(self, step, accumulate):
        """The units of optimiser step `step` (0-based), task units first."""
        if self.share is None:
            return [self._next(None) for _ in range(accumulate)]
        tasks = self.task_units_at(step, accumulate)
        return [self._next("task") for _ in range(tasks)] + [self._next("other") for _ in range(accumulate - tasks)]

    def state(self):
        """What a resumed run needs: the share (as text) and the units seen of each pool."""
        return {"share": None if self.share is None else schedule_text(self.share),
                "seen": {("all" if name is None else name): n for name, n in self.seen.items()}}

    def load(self, state, seen_before_draws=None, step=None):
        """Resumes from state(); a state from before UnitDraw has only train.py's `seen` (one pool).
        With `step` (the state's step), this draw's schedule may differ from the state's from that
        step on; without it, they must be the same."""
        if state is None:
            state = {"share": None, "seen": {"all": seen_before_draws or 0}}
        theirs = None if state["share"] is None else parse_schedule(state["share"])
        if not self._agrees(theirs, step):
            mine = "none" if self.share is None else schedule_text(self.share)
            before = "" if step is None else f" before step {step}"
            raise ValueError(f"it was trained with --task-share {state['share'] or 'none'}, not {mine}{before}")
        for name in self.pools:
            self.seen[name] = state["seen"]["all" if name is None else name]

    def _agrees(self, theirs, step):
        """Whether `theirs` drew steps 0..step-1 as this draw does (all steps when step is None)."""
        if theirs is None or self.share is None:
            return theirs is None and self.share is None
        if step is None:
            return theirs == self.share
        # Steps before `step` are drawn alike when the shares agree at every start (0 included)
        # either schedule has before `step`.
        changes = {start for start, _ in theirs + self.share if start < step}
        return all(share_at(theirs, s) == share_at(self.share, s) for s in changes)
