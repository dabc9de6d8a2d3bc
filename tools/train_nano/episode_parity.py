#!/usr/bin/env python3
"""Checks train.py --episodes and --nest-episodes on a model from scratch (or --init STATE) and real
episodes of a data set, with the losses a task step trains in the committed line (the answer, the
router's balancing loss, the feature penalty, and with --attend-tasks --place-tasks the attention,
copy, position and text copy losses): the steps of one task with one shared tower pass
(episode_rows), and with one decoder pass for each run of nested steps as well (nested_passes), give
the loss, the statistics and the gradients of the steps one by one. Prints the largest differences
and the decoder tokens of each way; exits 1 when they exceed float rounding."""
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
    ap.add_argument("--init", help="a train.py state.pt to start from (default: a model from scratch)")
    ap.add_argument("--steps", type=int, default=3, help="episodes with at least this many steps")
    ap.add_argument("--units", type=int, default=2, help="how many such episodes")
    ap.add_argument("--screenshot-first", action="store_true", help="the steps asked as train.py --screenshot-first asks them")
    a = ap.parse_args()
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(a.tokenizer)
    data = T.Examples([a.data], tok, "train", ("task",))
    data.screenshot_first = a.screenshot_first
    data.pointer_own = data.own_one_row = data.place_tasks = True
    numbers = T.Numbers(tok)
    data.number_ids = set(numbers.ids.tolist())
    config = nano_model.build_config(tok)
    model = nano_model.build_model(config, 7)
    nano_model.patch_embed_as_linear(model)
    if a.init:
        model.load_state_dict(torch.load(a.init, weights_only=False)["model"])
    model.train()
    attend = T.AttendLoss(model, [2, 3], numbers.ids, (0, 2))
    attend.blend = True
    copier = T.CopyLoss(model, attend, [3], numbers, 4.0, (data.image_size, torch.Generator()))
    text_copier = T.TextCopyLoss(model, attend, 3, 1)
    probe = T.PositionProbe(config.text_config.hidden_size, attend.layers, numbers, 2.0)
    units = [u for u in data.units(1, episodes=True) if len(u) >= a.steps][:a.units]
    if not units:
        sys.exit(f"episode_parity.py: no episode of {a.steps} steps in {a.data}")

    def run(way):
        for module in (model, probe):
            module.zero_grad(set_to_none=True)
        total, tokens, stats = torch.zeros(()), 0, []
        for n, unit in enumerate(units):
            copier.blend[1].manual_seed(n)
            if way == "alone":
                rows = [(data[i], None, None) for i in unit]
            else:
                rows = [(batch, enc, None) for batch, enc in T.episode_rows(model, data, unit)]
            if way == "nested":
                passes = T.nested_passes(model, data, unit, [(b, e) for b, e, _ in rows], True, True,
                                         [attend, copier, text_copier])
                rows = [(b, e, shared) for (b, e, _), shared in zip(rows, passes)]
            for batch, enc, shared in rows:
                placement = data.position_target(batch["placed_image"]) if "placed_image" in batch else None
                loss, st = T.forward_loss(model, batch, 0.01, 1.0, None, None, 0.0, None, 0.0, attend, 2.0, probe,
                                          placement, 0.5, numbers, 2.0, 0.5, None, None, 0.0, copier, 3.0,
                                          text_copier, 0.5, enc=enc, shared_pass=shared and shared[0])
                tokens += shared[1] if shared else batch["input_ids"].numel()
                total = total + loss
                stats.append(st)
        total.backward()
        params = list(model.named_parameters()) + [(f"probe.{k}", p) for k, p in probe.named_parameters()]
        return total.item(), tokens, stats, {k: p.grad.clone() for k, p in params if p.grad is not None}

    alone, tokens_alone, stats_alone, grads_alone = run("alone")
    steps = sum(len(u) for u in units)
    print(f"{len(units)} episodes, {steps} steps: {sum(len(data.items[i]['images']) for u in units for i in u)} "
          f"tower passes one by one, {sum(len({r for i in u for r in data.items[i]['images']}) for u in units)} "
          f"shared; {tokens_alone} decoder tokens")
    ok = True
    for way in ("shared", "nested"):
        loss, tokens, stats, grads = run(way)
        worst = max(((g - grads[k]).abs().max() / g.abs().max().clamp_min(1e-12)).item()
                    for k, g in grads_alone.items())
        moved = [(k, s[k], p.get(k)) for s, p in zip(stats_alone, stats) for k in s
                 if abs(s[k] - p.get(k, float("inf"))) > 1e-4 * max(1.0, abs(s[k]))]
        print(f"{way}: {tokens} decoder tokens ({tokens / tokens_alone:.2f}x); loss {alone:.6f} vs {loss:.6f}; "
              f"gradients: same parameters {set(grads_alone) == set(grads)}, largest difference {worst:.2e} of "
              f"the tensor's largest entry; statistics that differ: {moved or 'none'}")
        ok = ok and abs(alone - loss) <= 1e-5 * abs(alone) and set(grads_alone) == set(grads) and worst < 1e-4 \
            and not moved
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
