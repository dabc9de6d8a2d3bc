#!/usr/bin/env python3
"""Checks train.py --episodes: the steps of one task with one shared tower pass (episode_rows) give the
same loss and gradients as each step with its own tower pass, on a model from scratch and a real
episode of a data set; prints the largest differences and exits 1 when they exceed float rounding."""
import argparse
import os
import sys

import torch
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import train as T  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--steps", type=int, default=3, help="an episode with at least this many steps")
    a = ap.parse_args()
    torch.set_num_threads(1)
    tok = Tokenizer.from_file(a.tokenizer)
    data = T.Examples([a.data], tok, "train", ("task",))
    unit = next(u for u in data.units(1, episodes=True) if len(u) >= a.steps)
    model = nano_model.build_model(nano_model.build_config(tok), 7)
    nano_model.patch_embed_as_linear(model)
    model.train()

    def run(shared):
        model.zero_grad(set_to_none=True)
        total = torch.zeros(())
        rows = T.episode_rows(model, data, unit) if shared else [(data[i], None) for i in unit]
        for batch, enc in rows:
            loss, _ = T.forward_loss(model, batch, 0.01, 1.0, enc=enc)
            total = total + loss
        total.backward()
        return total.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    alone, grads_alone = run(False)
    together, grads_together = run(True)
    worst = max(((g - grads_together[n]).abs().max() / g.abs().max().clamp_min(1e-12)).item()
                for n, g in grads_alone.items())
    images = sum(len(data.items[i]["images"]) for i in unit)
    distinct = len({rel for i in unit for rel in data.items[i]["images"]})
    print(f"episode of {len(unit)} steps: {images} tower passes one by one, {distinct} shared")
    print(f"loss {alone:.6f} vs {together:.6f}; gradients: same parameters {set(grads_alone) == set(grads_together)}, "
          f"largest difference {worst:.2e} of the tensor's largest entry")
    ok = abs(alone - together) <= 1e-5 * abs(alone) and set(grads_alone) == set(grads_together) and worst < 1e-4
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
