#!/usr/bin/env python3
"""Writes a training state's weights (the model and the auxiliary heads, bf16, no optimiser) as a
small file that train.py --init accepts: for keeping a state across machines in the repository
(tools/train_nano/states/), since a state.pt (fp32 weights and AdamW's moments) is four times larger.

    tools/train_nano/save_weights.py work/phaseA/state.pt tools/train_nano/states/phaseA.pt
    tools/train_nano/train.py ... --init tools/train_nano/states/phaseA.pt --work work/phaseB

Resuming from it restarts the optimiser's moments (a short warm-up covers that) and the data order.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import HEADS  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", help="a state.pt written by train.py")
    ap.add_argument("out", help="the file to write")
    a = ap.parse_args()
    try:
        state = torch.load(a.state, weights_only=False, map_location="cpu")
    except Exception as e:  # a truncated or foreign file: one line, not a traceback
        sys.exit(f"save_weights.py: {a.state}: not a training state ({e})")
    if not isinstance(state, dict) or "model" not in state:
        sys.exit(f"save_weights.py: {a.state}: not a training state (no 'model' in it)")

    def bf16(tensors):
        # Floating tensors only: integer buffers (if any) keep their type.
        return {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in tensors.items()}

    out = {"model": bf16(state["model"]), "step": state.get("step"), "seed": state.get("seed"),
           "source": os.path.basename(os.path.dirname(os.path.abspath(a.state)))}
    for head in HEADS:
        if state.get(head):
            out[head] = bf16(state[head])
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save(out, a.out + ".tmp")
    os.replace(a.out + ".tmp", a.out)
    params = sum(v.numel() for v in out["model"].values())
    print(f"wrote {a.out}: {params / 1e6:.2f} M model parameters, step {out['step']}, "
          f"{os.path.getsize(a.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
