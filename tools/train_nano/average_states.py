#!/usr/bin/env python3
"""Averages the weights of several training states (train.py's state.pt) into one state, for
export_state.py. Uniform weight averaging of runs fine-tuned from one parent (a "model soup") often
lands in a flatter spot than any single run; the train_nano README's twenty-seventh run measures
that for deskpilot-nano (the committed weights are such an average). A checkpoint folder
(models/deskpilot-nano, its weights and training_heads.safetensors) counts as a state, so the
committed weights can be averaged with their children after the states they came from are gone.

    tools/train_nano/average_states.py work/jG/state.pt work/jH/state.pt -o /tmp/soup/state.pt
    tools/train_nano/export_state.py /tmp/soup/state.pt /tmp/soup/model

The optimiser state is dropped (an average of Adam moments means nothing), so the result can be
exported or used as --init, not resumed.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import HEADS, checkpoint_state  # noqa: E402

PARTS = ("model",) + HEADS


def average(states, weights):
    # Step, seed and group come from the last state.pt among them (a checkpoint folder has none).
    out = dict(next((s for s in reversed(states) if "step" in s), states[-1]))
    out.pop("opt", None)
    for part in PARTS:
        present = [s.get(part) for s in states]
        if all(p is None for p in present):
            continue
        if any(p is None for p in present):
            sys.exit(f"average_states.py: '{part}' is in some states and not others")
        keys = list(present[0].keys())
        for i, p in enumerate(present[1:], 1):
            if set(p.keys()) != set(keys):  # a folder's heads come in another order than a state's
                sys.exit(f"average_states.py: state {i + 1}'s '{part}' has other tensors than state 1's")
        merged = {}
        for k in keys:
            tensors = [p[k] for p in present]
            if any(t.shape != tensors[0].shape for t in tensors):
                sys.exit(f"average_states.py: '{part}.{k}' differs in shape between states")
            if not tensors[0].is_floating_point():
                merged[k] = tensors[-1]
                continue
            acc = torch.zeros_like(tensors[0], dtype=torch.float64)
            for w, t in zip(weights, tensors):
                acc += w * t.double()
            merged[k] = acc.to(tensors[0].dtype)
        out[part] = type(present[0])(merged)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("states", nargs="+", help="state.pt files written by train.py, or checkpoint folders")
    ap.add_argument("-o", "--out", required=True, help="the averaged state.pt to write")
    ap.add_argument("--weights", help="comma-separated weights, one per state (default: equal); normalised")
    a = ap.parse_args()
    if len(a.states) < 2:
        sys.exit("average_states.py: give at least two states")
    weights = [1.0] * len(a.states)
    if a.weights:
        try:
            weights = [float(w) for w in a.weights.split(",")]
        except ValueError:
            sys.exit(f"average_states.py: --weights '{a.weights}' is not a list of numbers")
        if len(weights) != len(a.states) or any(w < 0 for w in weights) or sum(weights) <= 0:
            sys.exit(f"average_states.py: --weights needs {len(a.states)} non-negative numbers with a positive sum")
    total = sum(weights)
    weights = [w / total for w in weights]
    states = []
    for path in a.states:
        try:
            if os.path.isdir(path):
                state = checkpoint_state(path)
            else:
                state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # torch.load and safetensors raise pickle, zip and OS errors alike
            sys.exit(f"average_states.py: cannot read state '{path}': {e}")
        if not isinstance(state, dict) or "model" not in state:
            sys.exit(f"average_states.py: '{path}' is not a train.py state (no 'model' weights)")
        states.append(state)
    if len({bool(s.get("screenshot_first", False)) for s in states}) > 1:
        sys.exit("average_states.py: the states were trained in different prompt layouts (--screenshot-first)")
    # Into OUT.part first, then renamed: train_scratch.sh takes an existing OUT as a finished stage,
    # so an interrupted write must not leave one behind.
    part = a.out + ".part"
    torch.save(average(states, weights), part)
    os.replace(part, a.out)
    print(f"wrote {a.out}: {len(states)} states, weights {', '.join(f'{w:.3f}' for w in weights)}")


if __name__ == "__main__":
    main()
