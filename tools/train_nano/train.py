#!/usr/bin/env python3
"""Trains deskpilot-nano on make_dataset.py's examples and writes the checkpoint the engine loads.

    tools/train_nano/train.py --data data/nano --tokenizer tests/data/engine/nano_tokenizer/tokenizer.json \
        --work work/nano --out models/deskpilot-nano --steps 3000

Reproducible: one --seed fixes the initial weights and the example order (a fresh permutation per
epoch, drawn from the seed and the epoch). Resumable: --work holds state.pt (weights, optimiser,
step) written every --save-every steps, and a run with the same --work continues from it.
Grounding examples of one screen train together (--group): the vision tower runs once per
screen, which is most of an example's cost. Loss:
cross-entropy on the assistant's answer tokens only (the target turn and its <|im_end|>), plus
the MoE load-balancing loss. CPU threads: --threads (default 1; the dev machine is shared).
"""
import argparse
import json
import math
import os
import random
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import nano_common as nc  # noqa: E402


READ_QUESTION = "Which element is at <|box_start|>({x},{y})<|box_end|>? Answer with the instruction that clicks it."


def read_examples(grounding):
    """--read-aux: the inverse of each grounding example, asked about the same screenshot: the point
    in, the instruction out ('Click the "Save" button'). Pointing needs the label's glyphs bound to
    the words; this question trains exactly that binding from the other side, on the same vision
    pass (the examples of one screen share a unit), so it costs decoder time only."""
    out = []
    for e in grounding:
        if e["kind"] != "grounding":
            continue
        m = re.search(r"\((\d+),(\d+)\)", e["target"])
        instruction = e["messages"][1]["parts"][0].rsplit("## User Instruction\n", 1)[-1]
        messages = [e["messages"][0], {"role": "user", "parts": [READ_QUESTION.format(x=m.group(1), y=m.group(2)),
                                                                  {"image": 0}]}]
        out.append(dict(e, kind="read", messages=messages, target=instruction))
    return out


PARSE_QUESTION = ("List the menus, buttons, checkboxes, radio buttons and tabs on the screen, top to bottom and left "
                  "to right, each with the instruction that clicks it and its position.")


def parse_examples(grounding):
    """--parse-aux: one screen-parsing example per screenshot (as Pix2Struct pretrains on screens):
    every labelled widget's instruction and point, in reading order. Unlike a single grounding
    answer, every line must be read off the screen, so the vision tower gets a dense signal from
    the first steps. List items are left out: grounding samples a quarter of them, so a list of
    them would not be determined by the screen."""
    by_image = {}
    for e in grounding:
        if e["kind"] == "grounding" and "item" not in e.get("widget", ""):
            m = re.search(r"\((\d+),(\d+)\)", e["target"])
            instruction = e["messages"][1]["parts"][0].rsplit("## User Instruction\n", 1)[-1]
            by_image.setdefault(e["images"][0], (e, []))[1].append((int(m.group(2)), int(m.group(1)), instruction))
    out = []
    for first, lines in by_image.values():
        lines.sort()
        target = "\n".join(f"{text} at ({x},{y})" for y, x, text in lines)
        messages = [first["messages"][0], {"role": "user", "parts": [PARSE_QUESTION, {"image": 0}]}]
        out.append(dict(first, kind="parse", widget="", messages=messages, target=target))
    return out


class Examples:
    """examples.jsonl turned into model inputs: ids, labels, pixel values, grids."""

    def __init__(self, data_dirs, tokenizer, split, kinds=("grounding", "task"), read_aux=False, parse_aux=False):
        from PIL import Image
        self.Image = Image
        self.tok = tokenizer
        self.items = []
        for data_dir in data_dirs:
            with open(os.path.join(data_dir, "examples.jsonl"), encoding="utf-8") as f:
                for e in map(json.loads, f):
                    if e["split"] == split and e["kind"] in kinds:
                        e["images"] = [os.path.join(data_dir, rel) for rel in e["images"]]
                        self.items.append(e)
        grounding = list(self.items)
        if read_aux:
            self.items += read_examples(grounding)
        if parse_aux:
            self.items += parse_examples(grounding)
        self.proc = nc.image_processor()
        w, h = nc.smart_resize(*nc.SCREEN)
        self.image_tokens = (w // 32) * (h // 32)
        self.im_end = tokenizer.token_to_id("<|im_end|>")
        self.image_pad = tokenizer.token_to_id("<|image_pad|>")
        self.cache = {}

    def __len__(self):
        return len(self.items)

    def pixels(self, rel):
        if rel not in self.cache:
            if len(self.cache) > 64:
                self.cache.pop(next(iter(self.cache)))
            image = self.Image.open(rel).convert("RGB")
            r = self.proc(images=[image], return_tensors="pt")
            self.cache[rel] = (r["pixel_values"], r["image_grid_thw"])
        return self.cache[rel]

    def encode(self, e):
        """(prompt ids, answer ids): the chat up to '<|im_start|>assistant\\n', then the answer."""
        counts = []
        for rel in e["images"]:
            _, grid = self.pixels(rel)
            counts.append(int(grid.prod()) // 4)
        prompt = nc.render_chat(e["messages"], counts)
        return self.tok.encode(prompt).ids, self.tok.encode(e["target"]).ids + [self.im_end]

    def units(self, group):
        """Training units: up to `group` grounding (and read, parse) examples of one screen together (the
        vision tower runs once for all of them), every other example alone."""
        by_screen, units = {}, []
        for i, e in enumerate(self.items):
            if group > 1 and e["kind"] in ("grounding", "read", "parse") and len(e["images"]) == 1:
                by_screen.setdefault(e["images"][0], []).append(i)
            else:
                units.append([i])
        for members in by_screen.values():
            units += [members[k:k + group] for k in range(0, len(members), group)]
        units.sort(key=lambda u: u[0])
        return units

    def batch(self, indices):
        """Several examples of one screenshot as one right-padded batch."""
        rows = [self.encode(self.items[i]) for i in indices]
        width = max(len(p) + len(a) for p, a in rows)
        pad = self.tok.token_to_id("<|endoftext|>")
        ids = torch.full((len(rows), width), pad)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (p, a) in enumerate(rows):
            n = len(p) + len(a)
            ids[r, :n] = torch.tensor(p + a)
            labels[r, len(p):n] = torch.tensor(a)
            mask[r, :n] = 1
        pv, grid = self.pixels(self.items[indices[0]]["images"][0])
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "pixel_values": pv,
                "image_grid_thw": grid, "mm_token_type_ids": (ids == self.image_pad).int(), "shared_image": True}

    def __getitem__(self, i):
        e = self.items[i]
        prompt, answer = self.encode(e)
        ids = torch.tensor([prompt + answer])
        labels = torch.tensor([[-100] * len(prompt) + answer])
        pv = [self.pixels(rel) for rel in e["images"]]
        return {"input_ids": ids, "labels": labels,
                "pixel_values": torch.cat([p for p, _ in pv]) if pv else None,
                "image_grid_thw": torch.cat([g for _, g in pv]) if pv else None,
                "mm_token_type_ids": (ids == self.image_pad).int()}


def feature_penalty(tensors):
    """Keeps the image embeddings the decoder sees informative: the share of their energy in the
    component common to all of the image's tokens small, and their RMS at most 1. Without it,
    training from scratch blew up a constant component (RMS ~200, token-to-token spread ~0.1):
    after the decoder's RMSNorm the screenshot's content was ~1/2000 of every image token, the
    answers stopped depending on the image at all (same loss with a blank screenshot), and
    grounding stalled at ~10%. A penalty on the constant's size alone was not enough: the tower
    then shrank its whole output (RMS 0.02) while keeping the constant ten times the content; the
    share is scale-free."""
    out = []
    for t in tensors:
        t = t.float()
        energy = t.pow(2).mean()
        out.append(t.mean(0).pow(2).mean() / (energy + 1e-6) + torch.relu(energy - 1.0))
    return torch.stack(out).mean()


def forward_loss(model, batch, aux_coef, feature_coef=0.0):
    """(loss, answer cross-entropy, answer token accuracy, feature penalty) of one example or one
    shared-image batch."""
    ids = batch["input_ids"]
    mask = batch.get("attention_mask", torch.ones_like(ids))
    kwargs, penalty = {}, torch.zeros(())
    if batch["pixel_values"] is not None:
        # The vision tower runs here rather than inside the model, so that its outputs can be
        # regularised; a shared-image batch runs it once and every row reuses the output (and sends
        # its gradient back into it).
        enc = model.model.get_image_features(batch["pixel_values"], batch["image_grid_thw"], return_dict=True)
        if feature_coef > 0:
            penalty = feature_penalty(list(enc.pooler_output) + [f for fs in enc.deepstack_features for f in fs])
        grid = batch["image_grid_thw"]
        if batch.get("shared_image"):
            rows = ids.shape[0]
            enc.pooler_output = tuple(enc.pooler_output) * rows
            enc.deepstack_features = [tuple(f) * rows for f in enc.deepstack_features]
            grid = grid.repeat(rows, 1)
        kwargs = {"mm_encoder_outputs": {"image": enc}, "image_grid_thw": grid}
    out = model(input_ids=ids, attention_mask=mask, mm_token_type_ids=batch["mm_token_type_ids"],
                output_router_logits=aux_coef > 0, **kwargs)
    logits = out.logits[:, :-1].float()
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    lm = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    correct = (logits[keep].argmax(-1) == labels[keep]).float().mean()
    aux = out.aux_loss if aux_coef > 0 and getattr(out, "aux_loss", None) is not None else torch.zeros(())
    return lm + aux_coef * aux + feature_coef * penalty, lm.detach(), correct.detach(), penalty.detach()


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def order(n, seed, epoch):
    idx = list(range(n))
    random.Random(seed * 1000003 + epoch).shuffle(idx)
    return idx


def evaluate(model, data, limit):
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for i in range(min(limit, len(data))):
            _, lm, acc, _ = forward_loss(model, data[i], 0.0)
            losses.append(lm.item())
            accs.append(acc.item())
    model.train()
    return sum(losses) / max(1, len(losses)), sum(accs) / max(1, len(accs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="make_dataset.py's --out (several: comma-separated)")
    ap.add_argument("--tokenizer", default=os.path.join(nc.ROOT, "tests/data/engine/nano_tokenizer/tokenizer.json"))
    ap.add_argument("--work", required=True, help="state.pt and log.jsonl (resumable)")
    ap.add_argument("--out", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--steps", type=int, default=3000, help="optimiser steps in all")
    ap.add_argument("--accumulate", type=int, default=4, help="training units per optimiser step")
    ap.add_argument("--group", type=int, default=8,
                    help="grounding examples of one screen per unit (vision runs once for them); 1: none")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--aux-coef", type=float, default=0.01, help="MoE load-balancing loss weight")
    ap.add_argument("--feature-coef", type=float, default=1.0,
                    help="weight of the image-embedding penalty (feature_penalty); 0: off")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--kinds", default="grounding,task", help="example kinds to train on (a curriculum stage)")
    ap.add_argument("--read-aux", action="store_true",
                    help="also train the inverse of each grounding example (point in, instruction out)")
    ap.add_argument("--parse-aux", action="store_true",
                    help="also train one screen-parsing example per screenshot (every widget, in reading order)")
    ap.add_argument("--init", help="start from the weights of another run's state.pt (the previous stage)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-autocast", dest="autocast", action="store_false",
                    help="compute in f32; by default matmuls run in bf16 under torch.autocast (f32 master "
                         "weights and loss), 1.7x faster per example on an AVX512-BF16 CPU, same loss")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-examples", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop (and save) after this long; 0: no limit")
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16", help="of the written checkpoint")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.tokenizer)
    kinds = tuple(a.kinds.split(","))
    if not set(kinds) <= {"grounding", "task"}:
        sys.exit(f"train.py: --kinds '{a.kinds}': expected grounding, task or both")
    dirs = a.data.split(",")
    train = Examples(dirs, tok, "train", kinds, a.read_aux, a.parse_aux)
    val = Examples(dirs, tok, "val", kinds)
    if not len(train):
        sys.exit(f"train.py: no training examples in {a.data}")
    units = train.units(a.group)
    config = nano_model.build_config(tok)
    model = nano_model.build_model(config, a.seed)
    model.train()
    total, vision = nano_model.count_parameters(model)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.05)
    os.makedirs(a.work, exist_ok=True)
    state_path = os.path.join(a.work, "state.pt")
    step, seen = 0, 0
    if a.init and not os.path.exists(state_path):
        model.load_state_dict(torch.load(a.init, weights_only=False)["model"])
        print(f"weights from {a.init}")
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        if state["seed"] != a.seed or state.get("group", 1) != a.group:
            sys.exit(f"train.py: {state_path} was trained with --seed {state['seed']} --group "
                     f"{state.get('group', 1)}, not --seed {a.seed} --group {a.group}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, seen = state["step"], state["seen"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step} ({seen} units seen)")
    print(f"{total / 1e6:.2f} M parameters ({vision / 1e6:.2f} M vision), {len(train)} train / {len(val)} val "
          f"examples in {len(units)} units, {a.threads} thread(s)", flush=True)

    def save_state():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seen": seen,
                    "seed": a.seed, "group": a.group, "torch_rng": torch.get_rng_state()}, state_path + ".tmp")
        os.replace(state_path + ".tmp", state_path)

    log = open(os.path.join(a.work, "log.jsonl"), "a")
    start = time.time()
    while step < a.steps:
        t0 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.steps, a.lr, a.warmup)
        opt.zero_grad(set_to_none=True)
        lm_sum = acc_sum = penalty_sum = 0.0
        tokens = examples = 0
        picked = []
        for _ in range(a.accumulate):
            epoch, pos = divmod(seen, len(units))
            picked.append(units[order(len(units), a.seed, epoch)[pos]])
            seen += 1
        total_examples = sum(len(u) for u in picked)
        for unit in picked:
            batch = train.batch(unit) if len(unit) > 1 else train[unit[0]]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast):
                loss, lm, acc, penalty = forward_loss(model, batch, a.aux_coef, a.feature_coef)
            # Each unit weighs as many examples as it holds.
            (loss * len(unit) / total_examples).backward()
            penalty_sum += penalty.item() * len(unit)
            lm_sum += lm.item() * len(unit)
            acc_sum += acc.item() * len(unit)
            tokens += batch["input_ids"].numel()
            examples += len(unit)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        rec = {"step": step, "loss": lm_sum / examples, "token_acc": acc_sum / examples, "feature_penalty": penalty_sum / examples,
               "lr": opt.param_groups[0]["lr"], "seconds": time.time() - t0, "tokens": tokens,
               "examples": examples}
        if step % a.eval_every == 0 or step == a.steps:
            rec["val_loss"], rec["val_token_acc"] = evaluate(model, val, a.eval_examples)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)
        out_of_time = a.max_seconds and time.time() - start > a.max_seconds
        if step % a.save_every == 0 or step == a.steps or out_of_time:
            save_state()
        if out_of_time:
            print(f"stopping after {time.time() - start:.0f} s at step {step} (--max-seconds)")
            break
    save_state()
    model.eval()
    nano_model.save_checkpoint(model, config, a.tokenizer, a.out,
                               torch.bfloat16 if a.dtype == "bf16" else torch.float32)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
