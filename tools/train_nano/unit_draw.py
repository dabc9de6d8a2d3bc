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


def permutation(n, seed, epoch, pool=None):
    idx = list(range(n))
    # The one-pool order is train.py's original, so that older states resume as they were.
    rng = random.Random(seed * 1000003 + epoch) if pool is None else random.Random(f"{seed}/{pool}/{epoch}")
    rng.shuffle(idx)
    return idx


class UnitDraw:
    def __init__(self, units, is_task, seed, share=None):
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
        share = self.share
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
        return {"share": None if self.share is None else str(self.share),
                "seen": {("all" if name is None else name): n for name, n in self.seen.items()}}

    def load(self, state, seen_before_draws=None):
        """Resumes from state(); a state from before UnitDraw has only train.py's `seen` (one pool)."""
        if state is None:
            state = {"share": None, "seen": {"all": seen_before_draws or 0}}
        theirs = None if state["share"] is None else fractions.Fraction(state["share"])
        if theirs != self.share:
            raise ValueError(f"it was trained with --task-share {state['share'] or 'none'}, "
                             f"not {self.share if self.share is not None else 'none'}")
        for name in self.pools:
            self.seen[name] = state["seen"]["all" if name is None else name]
