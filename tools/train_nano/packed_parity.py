#!/usr/bin/env python3
"""Checks train.py --pack: the grounding examples of one screen as one packed sequence (their shared
start computed once) give the same loss and gradients as the same rows each run alone, with the
committed line's auxiliary losses (attention, copy, text copy, position, label, contrast), on a
model from scratch (or --init STATE) and real screens of a data set (prompts in the --screenshot-first
layout); prints the largest differences and the decoder tokens of each, and exits 1 when they
exceed float rounding. The router's balancing loss is left out: packed, it counts the shared
start once, which is the one intended difference."""
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
    ap.add_argument("--units", type=int, default=2, help="how many screens (units of --group 8) to run")
    a = ap.parse_args()
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(a.tokenizer)
    data = T.Examples([a.data], tok, "train", ("grounding",), parse_aux=True)
    data.screenshot_first = data.pointer_own = data.own_one_row = True
    numbers = T.Numbers(tok)
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
    label_head = T.LabelHead(tok.get_vocab_size())
    probe = T.PositionProbe(config.text_config.hidden_size, attend.layers, numbers, 2.0)
    contrast = T.ContrastHead(data.label_bank())
    units = [u for u in data.units(8) if len(u) > 1][:a.units]

    heads = {"probe": probe, "label": label_head, "contrast": contrast}

    def run(pack):
        data.pack = pack
        for module in [model, *heads.values()]:
            module.zero_grad(set_to_none=True)
        total, tokens, stats = torch.zeros(()), 0, []
        for n, unit in enumerate(units):
            copier.blend[1].manual_seed(n)
            batch = data.batch(unit)
            if pack and batch["packed"] is None:
                sys.exit(f"packed_parity.py: unit {n} did not pack")
            tokens += (batch["packed"]["ids"] if pack else batch["input_ids"]).numel()
            loss, st = T.forward_loss(model, batch, 0.0, 1.0, label_head, data.label_target(batch["image"]), 0.3,
                                      None, 0.0, attend, 2.0, probe, data.position_target(batch["placed_image"]),
                                      0.5, numbers, 2.0, 0.5, contrast, data.widget_target(batch["image"]), 1.0,
                                      copier, 3.0, text_copier, 0.5)
            total = total + loss
            stats.append(st)
        total.backward()
        params = list(model.named_parameters()) + [(f"{name}.{k}", p) for name, head in heads.items()
                                                   for k, p in head.named_parameters()]
        return total.item(), tokens, stats, {k: p.grad.clone() for k, p in params if p.grad is not None}

    alone, tokens_alone, stats_alone, grads_alone = run(False)
    packed, tokens_packed, stats_packed, grads_packed = run(True)
    worst = max(((g - grads_packed[k]).abs().max() / g.abs().max().clamp_min(1e-12)).item()
                for k, g in grads_alone.items())
    moved = [(k, s[k], p.get(k)) for s, p in zip(stats_alone, stats_packed) for k in s
             if abs(s[k] - p.get(k, float("inf"))) > 1e-4 * max(1.0, abs(s[k]))]
    print(f"{len(units)} screens, {sum(len(u) for u in units)} rows: {tokens_alone} decoder tokens alone, "
          f"{tokens_packed} packed ({tokens_packed / tokens_alone:.2f}x)")
    print(f"loss {alone:.6f} vs {packed:.6f}; gradients: same parameters {set(grads_alone) == set(grads_packed)}, "
          f"largest difference {worst:.2e} of the tensor's largest entry; statistics that differ: {moved or 'none'}")
    ok = abs(alone - packed) <= 1e-5 * abs(alone) and set(grads_alone) == set(grads_packed) and worst < 1e-4 \
        and not moved
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
