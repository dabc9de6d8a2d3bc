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
import copy
import functools
import json
import math
import os
import random
import re
import shlex
import sys
import time
import types

import numpy
import torch
from transformers.models.qwen3_vl_moe.modeling_qwen3_vl_moe import load_balancing_loss_func

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import nano_common as nc  # noqa: E402
import muon  # noqa: E402
import unit_draw  # noqa: E402


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
        x, y = nc.target_point(e["target"])
        instruction = e["messages"][1]["parts"][0].rsplit("## User Instruction\n", 1)[-1]
        messages = [e["messages"][0], {"role": "user", "parts": [READ_QUESTION.format(x=x, y=y),
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
            x, y = nc.target_point(e["target"])
            instruction = e["messages"][1]["parts"][0].rsplit("## User Instruction\n", 1)[-1]
            by_image.setdefault(e["images"][0], (e, []))[1].append((y, x, instruction))
    out = []
    for first, lines in by_image.values():
        lines.sort()
        target = "\n".join(f"{text} at ({x},{y})" for y, x, text in lines)
        messages = [first["messages"][0], {"role": "user", "parts": [PARSE_QUESTION, {"image": 0}]}]
        out.append(dict(first, kind="parse", widget="", messages=messages, target=target))
    return out


POINT = re.compile(r"\((\d+),(\d+)\)")


@functools.lru_cache(maxsize=None)  # draw_shift asks for every unit
def exact_step(size, screen):
    """The smallest move in model pixels (at most 64) along an axis of `screen` screen pixels
    shown as `size` model pixels that is a whole number of screen pixels and moves every point
    to_model_point writes (screen coordinates in half pixels) by exactly that much: 2 for
    1280 -> 640, 12 for 800 -> 384, 6 for 1280 -> 960, 18 for 800 -> 576."""
    for k in range(1, 65):
        if k * screen % size:
            continue
        moved = k * screen // size
        if all(round((c / 2 + moved) * size / screen) == round(c / 2 * size / screen) + k
               for c in range(0, 2 * screen)):
            return k
    raise ValueError(f"no exact shift step for {screen} screen pixels shown as {size}")


def shift_image(pixels, dx, dy, fill=None):
    """An HxWx3 screenshot moved by (dx, dy) pixels. The strip it uncovers repeats the edge rows and
    columns (a menu bar or window background extends naturally), or, given an RGB `fill`, is that
    colour: the desktop beside a window that no longer fills the screen, as `deskpilot eval
    --window-offset` shows it (black on Xvfb)."""
    h, w = pixels.shape[:2]
    pad = ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0))
    if fill is None:
        padded = numpy.pad(pixels, pad, mode="edge")
    else:
        padded = numpy.empty((h + 2 * abs(dy), w + 2 * abs(dx), 3), dtype=pixels.dtype)
        padded[:] = numpy.asarray(fill, dtype=pixels.dtype)
        padded[abs(dy):abs(dy) + h, abs(dx):abs(dx) + w] = pixels
    top, left = abs(dy) - dy, abs(dx) - dx
    return numpy.ascontiguousarray(padded[top:top + h, left:left + w])


# --shift-fill: the uncovered strip's colour for a unit, from the unit's own random draw.
SHIFT_FILLS = {"edge": lambda rng: None, "black": lambda rng: (0, 0, 0),
               "colour": lambda rng: tuple(rng.randrange(256) for _ in range(3))}


LABELLED_ROLES = ("button", "checkbox", "radio", "list_item", "tab", "menu")


def label_targets(layout, tok, vocab, image_size, cell=32):
    """--label-aux: for each image token (a 32x32 cell of the resized image, the tokens' raster
    order), the set of tokens of the grounding instruction of every labelled widget that covers it
    ('Click the "Save" button' -> Click, the, ", Save, ", button), as a multi-hot [cells, vocab]
    bool tensor (a screen's float one would take 1 MB). A widget covers a cell when they overlap by at
    least 4 px both ways."""
    w, h = image_size
    cols, rows = w // cell, h // cell
    target = torch.zeros(rows * cols, vocab, dtype=torch.bool)
    for widget in layout["widgets"]:
        if not widget.get("visible") or widget["role"] not in LABELLED_ROLES or not widget.get("label"):
            continue
        ids = tok.encode(nc.grounding_instruction(widget["role"], widget["label"])).ids
        for i, overlap_x, overlap_y in cell_overlaps(widget["rect"], image_size, cell):
            if overlap_x >= 4 and overlap_y >= 4:
                target[i, ids] = True
    return target


def widget_targets(layout, tok, image_size, cell=32):
    """--contrast-aux: the labelled widgets of a screen with distinct labels that have at least half
    of their coverage in cells no other such widget overlaps, as (coverage [widgets, cells] float,
    each row the widget's share of each cell it overlaps by at least 4 px both ways, summing to 1;
    label token ids per widget), or None with fewer than two."""
    w, h = image_size
    cols, rows = w // cell, h // cell
    coverage, labels, seen = [], [], set()
    for widget in layout["widgets"]:
        if not widget.get("visible") or widget["role"] not in LABELLED_ROLES or not widget.get("label"):
            continue
        if widget["label"] in seen:  # one positive per label: the same words elsewhere are no negative
            continue
        row = torch.zeros(rows * cols)
        for i, overlap_x, overlap_y in cell_overlaps(widget["rect"], image_size, cell):
            if overlap_x >= 4 and overlap_y >= 4:
                row[i] = overlap_x * overlap_y
        if row.sum() > 0:
            seen.add(widget["label"])
            coverage.append(row / row.sum())
            labels.append(tok.encode(widget["label"]).ids)
    if not coverage:
        return None
    # A widget whose cells are mostly other widgets' cells too cannot be told apart from them at
    # this resolution (a 32 px cell spans four 7 px list rows), so it is no fair positive: on the
    # first runs 24 of a screen's ~36 widgets were such list items, and their hopeless pairs drowned
    # the four buttons' signal (contrastive accuracy stuck at 0.45 for 300 vision-only steps).
    stacked = torch.stack(coverage)
    shared = (stacked > 0).sum(0) > 1
    own = (stacked * ~shared).sum(1) >= 0.5
    keep = own.nonzero().flatten().tolist()
    if len(keep) < 2:
        return None
    return stacked[keep], [labels[i] for i in keep]


def cell_overlaps(rect, image_size, cell=32):
    """The cells (row-major index) of the resized image that a screen rect overlaps, with the
    overlap's width and height in resized pixels, as (index, overlap_x, overlap_y)."""
    w, h = image_size
    cols, rows = w // cell, h // cell
    sx, sy = w / nc.SCREEN[0], h / nc.SCREEN[1]
    x, y, ww, wh = rect
    x0, y0, x1, y1 = x * sx, y * sy, (x + ww) * sx, (y + wh) * sy
    for r in range(max(0, int(y0 // cell)), min(rows, int(y1 // cell) + 1)):
        for c in range(max(0, int(x0 // cell)), min(cols, int(x1 // cell) + 1)):
            overlap_x = min(x1, (c + 1) * cell) - max(x0, c * cell)
            overlap_y = min(y1, (r + 1) * cell) - max(y0, r * cell)
            if overlap_x > 0 and overlap_y > 0:
                yield r * cols + c, overlap_x, overlap_y


def position_targets(layout, image_size, cell=32, shared="smallest"):
    """--position-aux: for each image token, the point (x, y) a click on the labelled widget covering
    its cell would write (the widget's centre, as make_dataset.py answers), or -1 where no labelled
    widget covers it. A [cells, 2] long tensor. Where several widgets overlap a cell, `shared`
    decides (--position-shared): "smallest", the smallest widget, the first in layout order on a
    tie; "dominant", the widget with the largest overlap if it is at least twice every other's, else
    none (-1). Why "dominant": a 32 px cell spans three to five list rows or two stacked
    checkboxes, and "smallest" taught one row's point for all of them, so the copy path wrote the
    top row for every row of a cell (position_report.py counts it: at 640x384 only 26% of list items
    and 67% of checkboxes have a cell that teaches their own point)."""
    w, h = image_size
    cols, rows = w // cell, h // cell
    target = torch.full((rows * cols, 2), -1, dtype=torch.long)
    rank = torch.full((rows * cols,), float("inf"))  # smallest: the area; dominant: minus the overlap
    runner_up = torch.zeros(rows * cols)  # dominant: the second largest overlap
    for widget in layout["widgets"]:
        if not widget.get("visible") or widget["role"] not in LABELLED_ROLES or not widget.get("label"):
            continue
        x, y, ww, wh = widget["rect"]
        point = torch.tensor(nc.to_model_point(x + ww / 2, y + wh / 2))
        for i, overlap_x, overlap_y in cell_overlaps(widget["rect"], image_size, cell):
            score = ww * wh if shared == "smallest" else -overlap_x * overlap_y
            if score < rank[i]:
                if rank[i] < float("inf"):  # the old best becomes the runner-up
                    runner_up[i] = max(runner_up[i], -rank[i])
                rank[i] = score
                target[i] = point
            elif shared == "dominant":
                runner_up[i] = max(runner_up[i], -score)
    if shared == "dominant":
        target[-rank < 2 * runner_up] = -1
    return target


def is_number(token):
    """A token that spells a number in ASCII digits without a leading zero."""
    return token.isascii() and token.isdigit() and (token == "0" or token[0] != "0")


class Numbers:
    """The tokenizer's number tokens (add_number_tokens.py: one per number up to 999; a digit tokenizer
    has 0..9 only): `ids` [n] and their `values` [n], and `value_of` [vocab], the number a token
    stands for or -1. `soft(values, sigma)` is a Gaussian over the number tokens around each value:
    the smoothed target of --number-sigma and --position-aux."""

    def __init__(self, tok):
        pairs = sorted((int(t), i) for t, i in tok.get_vocab().items() if is_number(t))
        self.values = torch.tensor([v for v, _ in pairs])
        self.ids = torch.tensor([i for _, i in pairs])
        self.value_of = torch.full((tok.get_vocab_size(),), -1, dtype=torch.long)
        self.value_of[self.ids] = self.values

    def multi_digit(self):
        return len(self.ids) > 10

    def soft(self, values, sigma):
        d = values.float().unsqueeze(-1) - self.values.float()
        return torch.softmax(-0.5 * (d / sigma) ** 2, dim=-1)


class PositionProbe(torch.nn.Module):
    """--position-aux's read-out, used in training only (not part of the checkpoint): from an image
    token's hidden state at the input of each --attend-layers layer, one linear map per coordinate
    into the decoder's residual space, scored against the lm_head rows of the number tokens, must
    give the x and y of the centre of the widget under it (position_targets), with targets smoothed
    over neighbouring numbers (Numbers.soft). Why: with --attend-aux alone the supervised heads found
    the target token but the coordinates written were right only half the time: the tokens did not
    carry their widget's position in a form the attention could copy. A linear read-out through
    the lm_head's own number rows makes it copyable by the heads' linear value and output maps, and
    gives those rows a dense signal to order themselves by value."""

    def __init__(self, hidden, layers, numbers, sigma):
        super().__init__()
        self.read = torch.nn.ModuleList(torch.nn.Linear(hidden, 2 * hidden) for _ in layers)
        self.numbers, self.sigma = numbers, sigma

    def fits(self, saved):
        """Whether a saved state_dict is of this probe's layers and shapes (not the digit probe of
        earlier runs, nor one of other --attend-layers)."""
        return bool(saved) and len(saved) == 2 * len(self.read) and \
            saved["read.0.weight"].shape == self.read[0].weight.shape

    def forward(self, states, target, lm_head):
        """states: per layer, [cells, hidden]; (loss, accuracy within 2 px) over the cells with a target."""
        keep = target[:, 0] >= 0
        if not keep.any():
            return None
        rows = lm_head[self.numbers.ids].float()
        soft = self.numbers.soft(target[keep], self.sigma)  # [cells, 2, numbers]
        losses, accs = [], []
        for read, h in zip(self.read, states):
            h = h[keep].float()
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)  # as the decoder's RMSNorms see it
            logits = read(h).view(h.shape[0], 2, -1) @ rows.t()
            losses.append(-(soft * torch.log_softmax(logits, -1)).sum(-1).mean())
            got = self.numbers.values[logits.argmax(-1)]
            accs.append(((got - target[keep]).abs() <= 2).float().mean())
        return torch.stack(losses).mean(), torch.stack(accs).mean().detach()


class ContrastHead(torch.nn.Module):
    """--contrast-aux's scorer, used in training only (not part of the checkpoint): each labelled
    widget's image features (the tower's output over its cells, weighted by coverage) against the
    mean input embedding of every label on the same screen, cosine with a learned scale, cross-
    entropy both ways (as CLIP pairs images and captions). Why: the label loss (LabelHead) scores
    every word a cell shows, so it is mostly spent on words all widgets share ("Click", "the",
    "button"); at phaseK step 300 a button's centre token matched its own label better than its
    neighbours' in 23 of 80 cases (chance: 25%), and grounding's main error was the right row of
    buttons but the wrong button. This loss only rewards telling the screen's labels apart."""

    def __init__(self, bank=None):
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))
        # --contrast-bank: every label of the training layouts (token ids, padded) and each one's row.
        self.bank = None
        if bank:
            width = max(len(ids) for ids in bank)
            self.bank = torch.tensor([ids + [0] * (width - len(ids)) for ids in bank])
            self.bank_mask = torch.tensor([[1.0] * len(ids) + [0.0] * (width - len(ids)) for ids in bank])
            self.bank_row = {tuple(ids): i for i, ids in enumerate(bank)}

    def forward(self, features, embeddings, target):
        coverage, labels = target
        pooled = torch.nn.functional.normalize(coverage @ features.float(), dim=-1)
        words = torch.stack([embeddings[ids].float().mean(0) for ids in labels])
        logits = self.log_scale.exp() * pooled @ torch.nn.functional.normalize(words, dim=-1).t()
        right = torch.arange(len(labels))
        matched = (logits.argmax(1) == right).float().mean().detach()
        rows = [self.bank_row.get(tuple(ids)) for ids in labels] if self.bank is not None else [None]
        if None in rows:
            loss = 0.5 * (torch.nn.functional.cross_entropy(logits, right) +
                          torch.nn.functional.cross_entropy(logits.t(), right))
            return loss, matched
        # Image to text against the whole bank: four buttons on a screen give three negatives, the
        # bank gives every label the sandbox draws. Text to image stays within the screen.
        bank = (embeddings[self.bank].float() * self.bank_mask[..., None]).sum(1) / self.bank_mask.sum(1, keepdim=True)
        bank_logits = self.log_scale.exp() * pooled @ torch.nn.functional.normalize(bank, dim=-1).t()
        loss = 0.5 * (torch.nn.functional.cross_entropy(bank_logits, torch.tensor(rows)) +
                      torch.nn.functional.cross_entropy(logits.t(), right))
        return loss, matched


class LabelHead(torch.nn.Module):
    """--label-aux's classifier, used in training only (not part of the checkpoint): an image token's
    embedding (what the decoder receives in place of <|image_pad|>) against the decoder's own input
    embeddings, so that the token of a cell showing "Save" comes to resemble the embedding of the
    word Save, which the instruction carries. Why: grounding from the answer loss alone taught the
    tower to read labels too slowly (14% after 400 steps); this gives every image token a direct
    reading target."""

    def __init__(self, vocab):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(8.0))
        self.bias = torch.nn.Parameter(torch.full((vocab,), -4.0))

    def forward(self, features, embeddings, target):
        target = target.float()
        logits = self.scale * (features.float() @ embeddings.float().t()) + self.bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum") / features.shape[0]
        # R-precision over the cells that show a widget: of a cell's n words, how many are among its
        # n highest-scoring tokens (how much of the screen's text it reads, whatever the threshold).
        counts = target.sum(1)
        cells = counts > 0
        if not cells.any():
            return loss, torch.zeros(())
        ranked = logits[cells].argsort(dim=1, descending=True)
        n = counts[cells].long()
        top = torch.arange(ranked.shape[1]).unsqueeze(0) < n.unsqueeze(1)
        hits = target[cells].gather(1, ranked) * top
        return loss, (hits.sum() / n.sum()).detach()


class PointerHead(torch.nn.Module):
    """--pointer-aux's scorer, used in training only (not part of the checkpoint): for a grounding
    row, the decoder's last hidden state at the end of the prompt (where the answer starts) scores
    every image token's last hidden state; cross-entropy on the token whose cell holds the target
    point. Why: with the answer's digits as the only signal, the decoder never learned to locate
    the widget (phaseD/phaseE wrote a few fixed points per role); this trains locating directly."""

    def __init__(self, hidden):
        super().__init__()
        self.query = torch.nn.Linear(hidden, hidden, bias=False)
        torch.nn.init.eye_(self.query.weight)
        self.scale = torch.nn.Parameter(torch.tensor(4.0))

    def forward(self, question, image_tokens, target):
        q = torch.nn.functional.normalize(self.query(question.float()), dim=-1)
        k = torch.nn.functional.normalize(image_tokens.float(), dim=-1)
        logits = self.scale * (k @ q)
        return torch.nn.functional.cross_entropy(logits.unsqueeze(0), target.view(1)), (logits.argmax() == target)


class AttendLoss:
    """--attend-aux: supervises the decoder's own attention (not a side head): at every answer
    position that writes a coordinate (a number token), query head 0 of each --attend-layers layer must attend
    to the image token under the answer's point. Why: PointerHead taught a side head to find the
    target (53% on training rows) but the written digits did not follow it, since nothing made the
    decoder's real computation fetch that token; with the attention on it, the answer loss trains
    the token's value to carry its position. Needs eager attention in the text model (the weights
    are read through forward hooks); the checkpoint and the engine are unaffected.

    heads=(x, y) (--attend-split): the answer's x is fetched by query head x and its y by query head y,
    which must sit in different KV groups (their values differ); where a head does not fetch, it
    must attend to the first token (a sink whose value can learn to say nothing). Why: with one head
    fetching the same value for x and for y, the lm_head saw both coordinates at both positions; at
    phaseN's end the heads attended to the right button for x in 48 of 78 rows, yet the x written
    was a median 43 px off."""

    def __init__(self, model, layers, number_ids, heads=(0, 0)):
        self.layers = layers
        self.numbers = number_ids
        self.heads = heads
        self.blend = False  # --pointer-blend (set by main())
        self.weights = {}
        self.inputs = {}
        model.config.text_config._attn_implementation = "eager"
        for index, decoder_layer in enumerate(model.model.language_model.layers):
            if index not in layers:
                # Only the hooked layers need their weights: the others keep SDPA (a config of
                # their own, which the attention reads at every call; 3% of a grounding step).
                decoder_layer.self_attn.config = copy.copy(decoder_layer.self_attn.config)
                decoder_layer.self_attn.config._attn_implementation = "sdpa"
        for layer in layers:
            attn = model.model.language_model.layers[layer].self_attn
            attn.register_forward_hook(lambda _m, _i, out, layer=layer: self.weights.__setitem__(layer, out[1]))
            # The attention's input (after the layer's RMSNorm), for --copy-aux.
            attn.register_forward_pre_hook(
                lambda _m, args, kwargs, layer=layer: self.inputs.__setitem__(
                    layer, kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]), with_kwargs=True)

    def split(self):
        return self.heads[0] != self.heads[1]

    def __call__(self, batch):
        """(loss, accuracy) over the number positions of the batch's grounding rows, or None."""
        labels, image = batch["labels"], batch["mm_token_type_ids"].bool()
        picks = []  # per (row, head): the positions it fetches at, its target columns and shares, its idle positions
        for r, cell in enumerate(batch.get("cells", [])):
            if cell < 0:
                continue
            column = image[r].nonzero()[cell, 0]
            share = None
            if self.blend:  # attend to the tokens around the point, in blend_cells' proportions
                blend = batch["blends"][r]
                column = image[r].nonzero()[[i for i, _ in blend], 0]
                share = torch.tensor([part for _, part in blend])
            pool = self.blend and batch["pools"][r]
            # the hidden state at p writes token p+1
            writes_number = torch.isin(labels[r, 1:], self.numbers).nonzero()[:, 0]
            for coordinate, head in enumerate(self.heads if self.split() else self.heads[:1]):
                at = writes_number[coordinate::2] if self.split() else writes_number
                idle = writes_number[1 - coordinate::2] if self.split() else None
                picks.append((r, head, at, column, share, pool, cell, image[r], idle))
        if not picks:
            return None
        losses, hits = [], []
        for layer in self.layers:
            # One gather per layer: indexing the [rows, heads, queries, keys] weights once per (row,
            # head) made each index's backward fill a zero tensor of the whole size, about a sixth of
            # a grounding step's time.
            fetch = gather_rows(self.weights[layer], [(r, head, at) for r, head, at, *_ in picks])
            idles = gather_rows(self.weights[layer], [(r, head, idle) for r, head, _, _, _, _, _, _, idle in picks
                                                      if idle is not None])
            for n, (r, head, at, column, share, pool, cell, on_image, idle) in enumerate(picks):
                w = fetch[n].float()  # [positions, keys]
                if pool:  # --pointer-own: anywhere in the pool
                    losses.append(-torch.log(w[:, column].sum(-1) + 1e-6).mean())
                elif share is not None:
                    losses.append(-(share * torch.log(w[:, column] + 1e-6)).sum(-1).mean())
                else:
                    losses.append(-torch.log(w[:, column] + 1e-6).mean())
                hits.append((w[:, on_image].argmax(1) == cell).float().mean())
                if idle is not None:
                    losses.append(-torch.log(idles[n][:, 0].float() + 1e-6).mean())
        return torch.stack(losses).mean(), torch.stack(hits).mean().detach()


def gather_rows(weights, picks):
    """weights[r, head, positions] for each (r, head, positions) of `picks`, read with one index
    (so that the backward fills one zero tensor of weights' size, not one per pick), split again."""
    if not picks:
        return []
    rows = torch.cat([torch.full_like(at, r) for r, _, at in picks])
    heads = torch.cat([torch.full_like(at, head) for _, head, at in picks])
    positions = torch.cat([at for _, _, at in picks])
    return weights[rows, heads, positions].split([len(at) for _, _, at in picks])


class CopyLoss:
    """--copy-aux (with --attend-split): what the fetching heads of --copy-layers would add to the
    answer's number logits if they attended to an image token alone, scored against that token's
    widget centre (position_targets): the head's own value and output maps (v_proj, its slice of
    o_proj), the final RMSNorm's weight and the lm_head's number rows, at the scale the final norm
    divides by where the answer writes numbers. No parameters of its own, unlike PositionProbe:
    what it trains is the path the model itself uses, so that the number written follows the token
    attended (a pointer read-out inside the architecture the engine runs). Why: PositionProbe's
    separate linear read-out reached 50% within 2 px, yet the heads' copy did not carry it."""

    def __init__(self, model, attend, layers, numbers, sigma, blend=None):
        self.model, self.attend, self.layers = model, attend, layers
        self.numbers, self.sigma = numbers, sigma
        self.blend = blend  # --pointer-blend: (image size, torch.Generator of the sampled points)
        self.final_input = None
        norm = model.model.language_model.norm
        norm.register_forward_pre_hook(lambda _m, args: setattr(self, "final_input", args[0]))

    def __call__(self, batch, target):
        """(loss, accuracy within 2 px) over row 0's image tokens with a target, or None.
        --pointer-blend: over as many random points as the image has tokens instead, each a blend
        (blend_cells) of its surrounding tokens' copies that must write the point itself; the
        target of a token alone is then its own cell's centre, whatever widget it shows, or with
        --pointer-own (batch["own_targets"]) what own_targets says it writes."""
        keep = target[:, 0] >= 0
        labels = batch["labels"][:, 1:]
        writes = torch.isin(labels, self.numbers.ids)
        if not keep.any() or not writes.any():
            return None
        scale = torch.rsqrt(self.final_input[:, :-1][writes].float().pow(2).mean(-1) + 1e-6).median().detach()
        text = self.model.model.language_model
        rows = self.model.lm_head.weight[self.numbers.ids].float() * text.norm.weight.float()
        image = batch["placed_tokens"]
        mix = None
        if self.blend is not None:
            (w, h), generator = self.blend
            cells = int(image.sum())
            # Between the outermost cell centres: beyond them a blend cannot reach.
            span = torch.tensor([w - nc.FACTOR, h - nc.FACTOR], dtype=torch.float)
            target = (nc.FACTOR / 2 + torch.rand(cells, 2, generator=generator) * span).round().long()
            mix = torch.zeros(cells, cells)
            for p, point in enumerate(target.tolist()):
                for i, share in blend_cells(point, (w, h)):
                    mix[p, i] = share
            keep = torch.ones(cells, dtype=torch.bool)
            own = batch.get("own_targets")
            if own is not None:  # --pointer-own: the blend of what each token writes alone
                target = mix @ own.float()
        soft = self.numbers.soft(target[keep], self.sigma)  # [cells, 2, numbers]
        losses, accs = [], []
        for layer in self.layers:
            attn = text.layers[layer].self_attn
            x = self.attend.inputs[layer][0][image][keep].float()
            if mix is not None:
                x = mix @ x  # the value and output maps are linear: blending inputs blends the copies
            d = attn.head_dim
            for coordinate, head in enumerate(self.attend.heads):
                kv = head // attn.num_key_value_groups
                v = x @ attn.v_proj.weight[kv * d:(kv + 1) * d].float().t()
                if attn.v_proj.bias is not None:
                    v = v + attn.v_proj.bias[kv * d:(kv + 1) * d].float()
                added = v @ attn.o_proj.weight[:, head * d:(head + 1) * d].float().t()
                logits = scale * added @ rows.t()
                losses.append(-(soft[:, coordinate] * torch.log_softmax(logits, -1)).sum(-1).mean())
                got = self.numbers.values[logits.argmax(-1)]
                accs.append(((got - target[keep][:, coordinate]).abs() <= 2).float().mean())
        return torch.stack(losses).mean(), torch.stack(accs).mean().detach()


class TextCopyLoss:
    """--text-copy-aux: wherever the answer writes a token that the instruction holds (a label to
    click, the text to type, the finished() content), query head --text-copy-head of layer
    --text-copy-layer must attend to that token in the instruction, and the head's own value and
    output maps, read by the lm_head through the final norm's weight (at the scale that norm
    divides by at the answer), must say the token it attends to. The textual twin of AttendLoss +
    CopyLoss; no parameters of its own. Why: after run 12 the model wrote the right kind of step
    for 43 of 48 validation tasks' first steps but the instruction's label in 11 (it wrote a label
    seen often in training: 'Dismiss', 'Row 2', 'High') and typed another task's text; in
    grounding, where the label is the whole instruction, it found it 60% of the time. Copying a
    token from a long prompt is an induction circuit that the answer loss alone did not build in
    this 4-layer decoder."""

    def __init__(self, model, attend, layer, head):
        if layer not in attend.layers:
            raise ValueError(f"layer {layer} is not among --attend-layers {attend.layers}")
        self.model, self.attend, self.layer, self.head = model, attend, layer, head
        self.final_input = None
        model.model.language_model.norm.register_forward_pre_hook(
            lambda _m, args: setattr(self, "final_input", args[0]))

    def __call__(self, batch):
        """(loss, attention accuracy, copy accuracy) over the batch's copyable answer tokens, or None."""
        ids, labels = batch["input_ids"], batch["labels"]
        weights = self.attend.weights[self.layer]
        text = self.model.model.language_model
        attn = text.layers[self.layer].self_attn
        d = attn.head_dim
        kv = self.head // attn.num_key_value_groups
        rows = self.model.lm_head.weight.float() * text.norm.weight.float()
        rows_of = []  # per row with copyable answer tokens: (row, instruction positions, writes, match, source)
        for r, positions in enumerate(batch.get("instruction", [])):
            if len(positions) == 0:
                continue
            writes = (labels[r, 1:] != -100).nonzero()[:, 0]  # the hidden state at p writes token p+1
            wanted = labels[r, writes + 1]
            source = ids[r, positions]
            match = wanted[:, None] == source[None, :]  # [answer positions, instruction tokens]
            if match.any(1).any():
                rows_of.append((r, positions, writes, match, source))
        fetched = gather_rows(weights, [(r, self.head, writes[match.any(1)]) for r, _, writes, match, _ in rows_of])
        losses, attend_hits, copy_hits = [], [], []
        for (r, positions, writes, match, source), w in zip(rows_of, fetched):
            copyable = match.any(1)
            w = w.float()  # [copyable positions, keys]
            on_source = (w[:, positions] * match[copyable]).sum(1)
            losses.append(-torch.log(on_source + 1e-6).mean())
            best = w.argmax(1)
            attend_hits.append((match[copyable] & (positions[None, :] == best[:, None])).any(1).float().mean())
            # The copy path: each instruction token's value through this head's output slice.
            x = self.attend.inputs[self.layer][r, positions].float()
            v = x @ attn.v_proj.weight[kv * d:(kv + 1) * d].float().t()
            if attn.v_proj.bias is not None:
                v = v + attn.v_proj.bias[kv * d:(kv + 1) * d].float()
            added = v @ attn.o_proj.weight[:, self.head * d:(self.head + 1) * d].float().t()
            scale = torch.rsqrt(self.final_input[r, writes].float().pow(2).mean(-1) + 1e-6).median().detach()
            logits = scale * added @ rows.t()
            losses.append(torch.nn.functional.cross_entropy(logits, source))
            copy_hits.append((logits.argmax(-1) == source).float().mean())
        if not losses:
            return None
        return torch.stack(losses).sum() / len(attend_hits), torch.stack(attend_hits).mean().detach(), \
            torch.stack(copy_hits).mean().detach()


def heads_out_of_range(heads, config):
    return not all(0 <= h < config.text_config.num_attention_heads for h in heads)


def point_cell(e, image_size, cell=32):
    """The image token (raster index of its 32x32 cell) under a grounding example's answer point."""
    return cell_at(nc.target_point(e["target"]), image_size, cell)


def cell_at(point, image_size, cell=32):
    """The image token (raster index of its cell) under a point in resized pixels."""
    x, y = min(int(point[0]), image_size[0] - 1), min(int(point[1]), image_size[1] - 1)
    return (y // cell) * (image_size[0] // cell) + x // cell


def axis_brackets(g, n, reach):
    """Pairs (a, b, share of a) of token columns (or rows) whose centres bracket g, a cell-centre
    coordinate (g = 0 at the first token's centre): a from the token at or before g down to `reach`
    tokens further, b from the next token up to `reach` further; the nearest pair first. g beyond
    the outermost centres is clamped to them."""
    g = min(max(g, 0.0), n - 1.0)
    if n == 1:
        return [(0, 0, 1.0)]
    c0 = min(int(g), n - 2)
    return [(a, b, (b - g) / (b - a)) for a in range(c0, max(c0 - reach, 0) - 1, -1)
            for b in range(c0 + 1, min(c0 + 1 + reach, n - 1) + 1)]


def bracket_blend(x_pair, y_pair, cols):
    """The tokens (raster index) of a column pair and a row pair from axis_brackets, with the
    product of their shares, as [(index, weight)] without zero weights."""
    (a, b, sa), (c, d, sc) = x_pair, y_pair
    return [(r * cols + col, wx * wy) for r, wy in ((c, sc), (d, 1 - sc)) for col, wx in ((a, sa), (b, 1 - sa))
            if wx * wy > 0]


def cell_coords(point, image_size, cell=32):
    """A point (resized pixels) in cell-centre coordinates, and the token grid: (gx, gy, cols, rows)."""
    return (point[0] - cell / 2) / cell, (point[1] - cell / 2) / cell, image_size[0] // cell, image_size[1] // cell


def blend_cells(point, image_size, cell=32):
    """--pointer-blend: the image tokens (raster index of their cells) whose centres surround
    `point` (x, y in resized pixels), with bilinear weights that sum to 1, as [(index, weight)].
    Attending to them in these proportions and copying each token's own centre writes the point
    itself, finer than one token (a point beyond the outermost centres takes the edge token's)."""
    gx, gy, cols, rows = cell_coords(point, image_size, cell)
    return bracket_blend(axis_brackets(gx, cols, 0)[0], axis_brackets(gy, rows, 0)[0], cols)


def own_targets(layout, image_size, cell=32, one_row=False):
    """--pointer-own: what each image token's copy writes alone, [cells, 2] long. Where one labelled
    widget dominates the cell (its overlap at least twice every other's, as position_targets'
    "dominant", and at least a third of its width and of its height, or of the cell's, inside it;
    with `one_row`, --pointer-own-rows, also every other widget on the cell centred at its height),
    that widget's centre. Else, per axis, the coordinate that every labelled widget overlapping the
    cell shares, if they do (a menu bar's y, a list's x), or the cell's own centre: so a blend of
    such tokens moves along the free axis only. Why per axis: a menu's point is 5 px from the
    image's top edge, where no blend of cell centres (16 px down) can reach. Why the third: without
    it a token that shows 8 px of a 27 px tab at its cell's edge, and background else, copies the
    tab's centre and joins its pool; jC, trained so, missed 13 of 50 tabs, all a bar's second tab,
    with points 20-53 px from its centre. Why one row: a token showing two stacked radios, copying
    the dominant one's centre, must read its height inside the cell from what it shows; jC, jC2 and
    jC3 hit 12-15 of 27 pooled radio targets (seeds 0..49), most 5-9 px above or below, and 19-21
    of 23 blended ones."""
    w, h = image_size
    cols, rows = w // cell, h // cell
    seen = [[] for _ in range(rows * cols)]  # (overlap area, centre, a third inside) per labelled widget
    for widget in layout["widgets"]:
        if not widget.get("visible") or widget["role"] not in LABELLED_ROLES or not widget.get("label"):
            continue
        x, y, ww, wh = widget["rect"]
        centre = nc.to_model_point(x + ww / 2, y + wh / 2)
        span_x, span_y = min(ww * w / nc.SCREEN[0], cell) / 3, min(wh * h / nc.SCREEN[1], cell) / 3
        for i, overlap_x, overlap_y in cell_overlaps(widget["rect"], image_size, cell):
            seen[i].append((overlap_x * overlap_y, centre, overlap_x >= span_x and overlap_y >= span_y))
    target = torch.zeros(rows * cols, 2, dtype=torch.long)
    for i, widgets in enumerate(seen):
        point = [i % cols * cell + cell // 2, i // cols * cell + cell // 2]
        widgets.sort(key=lambda item: -item[0])
        stacked = one_row and any(centre[1] != widgets[0][1][1] for _, centre, _ in widgets[1:])
        if widgets and widgets[0][2] and not stacked and (len(widgets) == 1 or widgets[0][0] >= 2 * widgets[1][0]):
            point = list(widgets[0][1])
        elif widgets:
            for axis in (0, 1):
                if len({centre[axis] for _, centre, _ in widgets}) == 1:
                    point[axis] = widgets[0][1][axis]
        target[i] = torch.tensor(point)
    return target


def own_blend(point, image_size, own, cell=32, reach=1, locality=0.1):
    """--pointer-own's attention target for an answer's point: (tokens as [(index, share)], pool).
    Where tokens write the point itself (they show the target widget alone), the pool of them,
    attended in any proportion (pool True). Else the bracketing tokens (axis_brackets, up to
    `reach` beyond the nearest) whose blend of own targets comes nearest the point, then nearest in
    cells: the four nearest where they all write their cell centres (pool False); where even that
    blend writes more than 4 px off, the token under the point alone. Why: jN (a token writes its
    widget's centre) pointed at buttons better (75.5% against 64.5%), jB2 (a token writes its
    cell's centre, blends between) at list rows (56% against 46%); a share error moves a blended
    point, but not a pooled one."""
    gx, gy, cols, rows = cell_coords(point, image_size, cell)
    p = torch.tensor(point, dtype=torch.float)
    pool = ((own - p).abs().max(1).values <= 1).nonzero()[:, 0].tolist()
    if pool:
        return [(i, 1 / len(pool)) for i in pool], True
    gx, gy = min(max(gx, 0.0), cols - 1.0), min(max(gy, 0.0), rows - 1.0)
    best, best_cost = None, math.inf
    for x_pair in axis_brackets(gx, cols, reach):
        for y_pair in axis_brackets(gy, rows, reach):
            parts = bracket_blend(x_pair, y_pair, cols)
            written = sum(w * own[i].float() for i, w in parts)
            cost = float(((written - p) / cell).pow(2).sum()) + locality * sum(
                w * ((i % cols - gx) ** 2 + (i // cols - gy) ** 2) for i, w in parts)
            if cost < best_cost - 1e-9:
                best, best_cost, error = parts, cost, float((written - p).abs().max())
    if error > 4:  # nothing around writes it (a menu in the top cells, which tabs below share): jN's target
        return [(cell_at(point, image_size, cell), 1.0)], True
    return best, False


@functools.lru_cache(maxsize=None)  # a screen's examples share its layout
def layout_roles(screenshot):
    """{widget name: role} from the layout JSON beside a screenshot, or None when it has none."""
    path = screenshot[:-len(".png")] + ".layout.json"
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return {w["name"]: w["role"] for w in json.load(f)["widgets"]}


def widget_role(example):
    """The role of a grounding example's target, from the layout beside its screenshot."""
    screenshot = example["images"][0]
    roles = layout_roles(screenshot)
    if roles is None:
        sys.exit(f"train.py: {screenshot}: no layout JSON beside it, needed by --roles (example {example['id']})")
    if example["widget"] not in roles:
        sys.exit(f"train.py: {screenshot}: its layout has no widget '{example['widget']}', "
                 f"the target of example {example['id']}")
    return roles[example["widget"]]


class Examples:
    """examples.jsonl turned into model inputs: ids, labels, pixel values, grids."""

    def __init__(self, data_dirs, tokenizer, split, kinds=("grounding", "task"), read_aux=False, parse_aux=False,
                 roles=None):
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
        if roles is not None:
            # After the parse examples, which read every widget of a screen whatever --roles keeps.
            self.items = [e for e in self.items if e["kind"] not in ("grounding", "read")
                          or widget_role(e) in roles]
        self.proc = nc.image_processor()
        w, h = nc.smart_resize(*nc.SCREEN)
        self.image_tokens = (w // 32) * (h // 32)
        self.im_end = tokenizer.token_to_id("<|im_end|>")
        self.image_pad = tokenizer.token_to_id("<|image_pad|>")
        self.number_ids = None  # set by main() when --attend-aux supervises task clicks
        self.place_tasks = False  # --place-tasks (set by main())
        self.position_shared = "smallest"  # --position-shared (set by main())
        self.pointer_own = False  # --pointer-own (set by main())
        self.own_one_row = False  # --pointer-own-rows (set by main())
        self.screenshot_first = False  # --screenshot-first (set by main())
        self.pack = False  # --pack (set by main())
        self.cache = {}
        self.image_size = (w, h)
        self.targets = {}
        self.layouts = {}
        self.shift = (0, 0)  # --shift: the current unit's (dx, dy) in screen pixels
        self.shift_fill = None  # --shift-fill: the current unit's uncovered strip (RGB), None: the edge

    def label_bank(self):
        """--contrast-bank: every distinct label of a labelled widget in the layouts beside these
        examples' screenshots, as token ids, in label order."""
        labels = set()
        for image in sorted({rel for e in self.items for rel in e["images"]}):
            path = image[:-len(".png")] + ".layout.json"
            if os.path.exists(path):
                with open(path) as f:
                    labels.update(w["label"] for w in json.load(f)["widgets"]
                                  if w["role"] in LABELLED_ROLES and w.get("label"))
        return [self.tok.encode(label).ids for label in sorted(labels)]

    def layout(self, rel):
        """The layout beside a screenshot, its rects moved by the current shift, or None."""
        if rel not in self.layouts:
            if len(self.layouts) > 256:
                self.layouts.pop(next(iter(self.layouts)))
            path = rel[:-len(".png")] + ".layout.json"
            self.layouts[rel] = None
            if os.path.exists(path):
                with open(path) as f:
                    self.layouts[rel] = json.load(f)
        raw = self.layouts[rel]
        if raw is None or self.shift == (0, 0):
            return raw
        dx, dy = self.shift
        return dict(raw, widgets=[dict(w, rect=[w["rect"][0] + dx, w["rect"][1] + dy, *w["rect"][2:]])
                                  for w in raw["widgets"]])

    def cached(self, key, make):
        """A layout target, kept for unshifted screens only (a shifted one is drawn once)."""
        if self.shift != (0, 0):
            return make()
        if key not in self.targets:
            self.targets[key] = make()
        return self.targets[key]

    def label_target(self, rel):
        """The --label-aux target of a screenshot, or None when it has no layout beside it. The
        cache keeps only its set bits' (cell, token) pairs: a dense target is 476 KB at 640x384,
        and a run that draws every screen of data640 + data640b would hold 9 GB of them."""
        layout = self.layout(rel)
        vocab = self.tok.get_vocab_size()
        pairs = self.cached(("label", rel), lambda: None if layout is None else
                            label_targets(layout, self.tok, vocab, self.image_size).nonzero().to(torch.int16))
        if pairs is None:
            return None
        target = torch.zeros(self.image_tokens, vocab, dtype=torch.bool)
        target[pairs[:, 0].long(), pairs[:, 1].long()] = True
        return target

    def widget_target(self, rel):
        """The --contrast-aux target of a screenshot, or None (no layout, or fewer than two labels)."""
        layout = self.layout(rel)
        return self.cached(("widgets", rel), lambda: None if layout is None else
                           widget_targets(layout, self.tok, self.image_size))

    def position_target(self, rel):
        """The --position-aux target of a screenshot, or None when it has no layout beside it."""
        layout = self.layout(rel)
        return self.cached(("position", rel), lambda: None if layout is None else
                           position_targets(layout, self.image_size, shared=self.position_shared))

    def own_target(self, rel):
        """The --pointer-own targets of a screenshot (own_targets), or None without --pointer-own or
        when it has no layout beside it."""
        if not self.pointer_own:
            return None
        layout = self.layout(rel)
        return self.cached(("own", rel), lambda: None if layout is None else
                           own_targets(layout, self.image_size, one_row=self.own_one_row))

    def point_blend(self, e, own):
        """--pointer-blend's attention target for an example's answer point: ([(token index, share)],
        pool), own_blend's given its screenshot's own_target (--pointer-own), else blend_cells'."""
        point = nc.target_point(e["target"])
        if own is None:
            return blend_cells(point, self.image_size), False
        return own_blend(point, self.image_size, own)

    def draw_shift(self, unit, limit, rng):
        """--shift: a random (dx, dy) in screen pixels for a unit of one screenshot that keeps every
        point its examples write 8 pixels inside the image. Each axis moves by whole steps of
        exact_step(): the answers' points then move by exact integers and to_model_point's
        round-half-to-even rounds a widget's centre the same way before and after the move (at
        1280x800 -> 640x384: 2 model pixels across, 12 down; an odd x step would move some points
        by one more)."""
        w, h = self.image_size
        points = [p for i in unit for p in POINT.findall(self.items[i]["target"])]
        points += [p for i in unit if self.items[i]["kind"] == "read"
                   for p in POINT.findall(self.items[i]["messages"][1]["parts"][0])]
        points = points or [(w // 2, h // 2)]  # a --vision-only unit writes no point
        margin = 8  # a point this close to the edge is a widget partly moved off the screen
        moved = []
        for coords, size, screen in (([int(x) for x, _ in points], w, nc.SCREEN[0]),
                                     ([int(y) for _, y in points], h, nc.SCREEN[1])):
            step = exact_step(size, screen)
            reach = -(-limit // step)  # whole steps up to the limit, rounded up
            lo = -min(reach, max(0, (min(coords) - margin) // step))
            hi = min(reach, max(0, (size - 1 - margin - max(coords)) // step))
            moved.append(rng.randint(lo, hi) * step * screen // size)
        return moved[0], moved[1]

    def shifted(self, e):
        """An example with its written points moved by the current shift (grounding, parse and
        read examples of one screenshot; nothing else is shifted)."""
        if self.shift == (0, 0):
            return e
        w, h = self.image_size
        kx, ky = round(self.shift[0] * w / nc.SCREEN[0]), round(self.shift[1] * h / nc.SCREEN[1])
        move = lambda text: POINT.sub(lambda m: f"({int(m.group(1)) + kx},{int(m.group(2)) + ky})", text)
        if e["kind"] == "read":
            user = dict(e["messages"][1], parts=[move(e["messages"][1]["parts"][0])] + e["messages"][1]["parts"][1:])
            return dict(e, messages=[e["messages"][0], user])
        return dict(e, target=move(e["target"]))

    def screens(self):
        """Every single-image screenshot with a layout (--vision-only units)."""
        seen = {e["images"][0]: None for e in self.items if len(e["images"]) == 1}  # ordered, unique
        return [image for image in seen if self.layout(image) is not None]

    def __len__(self):
        return len(self.items)

    def pixels(self, rel):
        key = (rel, self.shift, self.shift_fill)
        if key not in self.cache:
            if len(self.cache) > 64:
                self.cache.pop(next(iter(self.cache)))
            image = self.Image.open(rel).convert("RGB")
            if self.shift != (0, 0):
                image = self.Image.fromarray(shift_image(numpy.asarray(image), *self.shift, self.shift_fill))
            r = self.proc(images=[image], return_tensors="pt")
            self.cache[key] = (r["pixel_values"], r["image_grid_thw"])
        return self.cache[key]

    def encode(self, e):
        """(prompt ids, answer ids, the positions of the instruction's tokens in the prompt): the chat
        up to '<|im_start|>assistant\\n', then the answer."""
        counts = []
        for rel in e["images"]:
            _, grid = self.pixels(rel)
            counts.append(int(grid.prod()) // 4)
        prompt = nc.render_chat(nc.in_layout(e["messages"], self.screenshot_first), counts)
        encoded = self.tok.encode(prompt)
        instruction = torch.tensor(nc.instruction_positions(prompt, encoded.offsets), dtype=torch.long)
        return encoded.ids, self.tok.encode(e["target"]).ids + [self.im_end], instruction

    def click_cell(self, e, prompt_ids, answer_ids):
        """A task step that clicks one point: the index, among the row's image tokens, of the last
        screenshot's token under the point (--attend-aux supervises task rows too); else -1. Only
        answers whose sole numbers are the point's two coordinates, so that AttendLoss's x/y
        alternation holds."""
        if e["kind"] != "task" or len(POINT.findall(e["target"])) != 1:
            return -1
        if sum(1 for t in answer_ids if self.number_ids is not None and t in self.number_ids) != 2:
            return -1
        image_tokens = sum(1 for t in prompt_ids if t == self.image_pad)
        return image_tokens - self.image_tokens + point_cell(e, self.image_size)

    def click_blend(self, e, cell, own):
        """--pointer-blend's point_blend for a task step whose click_cell is `cell`, given its last
        screenshot's own_target, with indices among the row's image tokens, as click_cell counts
        them; ([], False) where cell is -1."""
        if cell < 0:
            return [], False
        first = cell - point_cell(e, self.image_size)  # the last screenshot's first token
        blend, pool = self.point_blend(e, own)
        return [(first + i, w) for i, w in blend], pool

    def units(self, group, episodes=False):
        """Training units: up to `group` grounding (and read, parse) examples of one screen together (the
        vision tower runs once for all of them), with `episodes` every step of one task together (the
        tower runs once per screenshot of the task, not once per step that shows it), every other
        example alone."""
        by_screen, by_task, units = {}, {}, []
        for i, e in enumerate(self.items):
            if group > 1 and e["kind"] in ("grounding", "read", "parse") and len(e["images"]) == 1:
                by_screen.setdefault(e["images"][0], []).append(i)
            elif episodes and e["kind"] == "task":
                # A seed plays each task once; its folder tells the data sets apart.
                by_task.setdefault((os.path.dirname(e["images"][0]), e["seed"], e["task"]), []).append(i)
            else:
                units.append([i])
        for members in by_screen.values():
            units += [members[k:k + group] for k in range(0, len(members), group)]
        units += list(by_task.values())
        units.sort(key=lambda u: u[0])
        return units

    def batch(self, indices):
        """Several examples of one screenshot as one right-padded batch."""
        items = [self.shifted(self.items[i]) for i in indices]
        rows = [self.encode(e) for e in items]
        width = max(len(p) + len(a) for p, a, _ in rows)
        pad = self.tok.token_to_id("<|endoftext|>")
        ids = torch.full((len(rows), width), pad)
        labels = torch.full((len(rows), width), -100)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (p, a, _) in enumerate(rows):
            n = len(p) + len(a)
            ids[r, :n] = torch.tensor(p + a)
            labels[r, len(p):n] = torch.tensor(a)
            mask[r, :n] = 1
        image = self.items[indices[0]]["images"][0]
        pv, grid = self.pixels(image)
        own = self.own_target(image)
        blends = [self.point_blend(e, own) if e["kind"] == "grounding" else ([], False) for e in items]
        return {"input_ids": ids, "labels": labels, "attention_mask": mask, "pixel_values": pv,
                "image_grid_thw": grid, "mm_token_type_ids": (ids == self.image_pad).int(), "shared_image": True,
                "image": image, "placed_image": image, "placed_tokens": ids[0] == self.image_pad,
                "cells": [point_cell(e, self.image_size) if e["kind"] == "grounding" else -1 for e in items],
                "blends": [blend[0] for blend in blends], "pools": [blend[1] for blend in blends],
                "own_targets": own,
                "prompt_lengths": [len(p) for p, _, _ in rows], "instruction": [i for _, _, i in rows],
                "packed": self.packing([p + a for p, a, _ in rows], min(len(p) for p, _, _ in rows), width)
                if self.pack else None}

    def packing(self, rows, shortest_prompt, width):
        """--pack: the rows of one screen as one sequence, their shared start once and then each row's
        own tokens ({"ids": [1, L], "segment": [L], -1 for the shared start,
        else the row, "index": [rows, width], each row's tokens as places in the sequence, 0 for
        padding}), or None where the rows share no screenshot before they differ (the
        instruction-first layout). Within the prompts only, so that no answer token is shared."""
        prefix = shortest_prompt
        for row in rows[1:]:
            prefix = next((k for k in range(prefix) if row[k] != rows[0][k]), prefix)
        if any(self.image_pad in row[prefix:] for row in rows):
            return None
        ids, segment = list(rows[0][:prefix]), [-1] * prefix
        index = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            index[r, :prefix] = torch.arange(prefix)
            index[r, prefix:len(row)] = torch.arange(len(ids), len(ids) + len(row) - prefix)
            ids += row[prefix:]
            segment += [r] * (len(row) - prefix)
        return {"ids": torch.tensor([ids]), "segment": torch.tensor(segment), "index": index}

    def __getitem__(self, i):
        e = self.items[i]
        prompt, answer, instruction = self.encode(e)
        cell = self.click_cell(e, prompt, answer)
        ids = torch.tensor([prompt + answer])
        labels = torch.tensor([[-100] * len(prompt) + answer])
        pv = [self.pixels(rel) for rel in e["images"]]
        example = {"input_ids": ids, "labels": labels,
                   "pixel_values": torch.cat([p for p, _ in pv]) if pv else None,
                   "image_grid_thw": torch.cat([g for _, g in pv]) if pv else None,
                   "mm_token_type_ids": (ids == self.image_pad).int(), "instruction": [instruction],
                   "cells": [cell]}
        own = self.own_target(e["images"][-1]) if e["kind"] == "task" and e["images"] else None
        blend, pool = self.click_blend(e, cell, own)
        example.update(blends=[blend], pools=[pool])
        if self.place_tasks and e["kind"] == "task" and pv:
            # The last screenshot's tokens: the prompt's last image_tokens image pads (as click_cell counts them).
            placed = ids[0] == self.image_pad
            placed[:placed.nonzero()[-self.image_tokens, 0]] = False
            example["placed_image"] = e["images"][-1]
            example["placed_tokens"] = placed
            example["own_targets"] = own
        return example


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


def embeddings(model):
    return model.model.language_model.embed_tokens.weight


def forward_loss(model, batch, aux_coef, feature_coef=0.0, label_head=None, label_target=None, label_coef=0.0,
                 pointer_head=None, pointer_coef=0.0, attend=None, attend_coef=0.0, position_probe=None,
                 position_target=None, position_coef=0.0, numbers=None, number_sigma=0.0, number_smooth=0.0,
                 contrast_head=None, contrast_target=None, contrast_coef=0.0, copier=None, copy_coef=0.0,
                 text_copier=None, text_copy_coef=0.0, enc=None, shared_pass=None):
    """(loss, stats) of one example or one shared-image batch; stats: the answer's cross-entropy
    ("loss") and token accuracy, the feature penalty, and the loss and accuracy of each auxiliary in use.
    number_sigma > 0: where the answer writes a number token, number_smooth of the cross-entropy
    is against Numbers.soft (a Gaussian of that sigma over the neighbouring numbers) instead of the
    one token: a click 3 px off still lands on the widget, and the lm_head's number rows should say
    so (the reported "loss" stays the plain cross-entropy). `enc`: the tower's output for the row's
    images, computed by the caller (an --episodes unit shares one tower pass among its steps).
    `shared_pass`: the decoder's output for this batch, given it (--nest-episodes: one decoder pass
    for several steps, nested_passes), instead of a pass of its own."""
    ids = batch["input_ids"]
    mask = batch.get("attention_mask", torch.ones_like(ids))
    kwargs, penalty, extra = {}, torch.zeros(()), torch.zeros(())
    stats = {}
    if batch["pixel_values"] is not None:
        # The vision tower runs here rather than inside the model, so that its outputs can be
        # regularised; a shared-image batch runs it once and every row reuses the output (and sends
        # its gradient back into it).
        if enc is None:
            enc = model.model.get_image_features(batch["pixel_values"], batch["image_grid_thw"], return_dict=True)
        if feature_coef > 0:
            penalty = feature_penalty(list(enc.pooler_output) + [f for fs in enc.deepstack_features for f in fs])
        if label_coef > 0 and label_target is not None:
            label_loss, recall = label_head(enc.pooler_output[0], embeddings(model), label_target)
            extra = label_coef * label_loss
            stats.update(label_loss=label_loss.item(), label_recall=recall.item())
        if contrast_coef > 0 and contrast_target is not None:
            contrast_loss, matched = contrast_head(enc.pooler_output[0], embeddings(model), contrast_target)
            extra = extra + contrast_coef * contrast_loss
            stats.update(contrast_loss=contrast_loss.item(), contrast_acc=matched.item())
        grid = batch["image_grid_thw"]
        if batch.get("packed") is not None:
            pass  # one sequence, one image
        elif batch.get("shared_image"):
            rows = ids.shape[0]
            enc.pooler_output = tuple(enc.pooler_output) * rows
            enc.deepstack_features = [tuple(f) * rows for f in enc.deepstack_features]
            grid = grid.repeat(rows, 1)
        kwargs = {"mm_encoder_outputs": {"image": enc}, "image_grid_thw": grid}
    pointing = pointer_coef > 0 and batch.get("shared_image") and any(c >= 0 for c in batch["cells"])
    placing = position_coef > 0 and position_target is not None
    copying = copy_coef > 0 and position_target is not None
    if shared_pass is not None:
        out = shared_pass(batch)
    elif batch.get("packed") is not None:
        out = packed_forward(model, batch, aux_coef > 0, pointing or placing, kwargs, [attend, copier, text_copier])
    else:
        out = model(input_ids=ids, attention_mask=mask, mm_token_type_ids=batch["mm_token_type_ids"],
                    output_router_logits=aux_coef > 0, output_hidden_states=pointing or placing, **kwargs)
    if placing:
        # Row 0's tokens of the placed screenshot: every row of a shared-image batch holds the same
        # image at the same place, and before the answer nothing differs that the image tokens can
        # see (causal); a task step (--place-tasks) is one row, its last screenshot.
        image = batch["placed_tokens"]
        placed = position_probe([out.hidden_states[layer][0][image] for layer in attend.layers], position_target,
                                model.lm_head.weight)
        if placed is not None:
            extra = extra + position_coef * placed[0]
            stats.update(position_loss=placed[0].item(), position_acc=placed[1].item())
    if copying:
        copied = copier(batch, position_target)
        if copied is not None:
            extra = extra + copy_coef * copied[0]
            stats.update(copy_loss=copied[0].item(), copy_acc=copied[1].item())
    if pointing:
        hidden = out.hidden_states[-1]
        losses, hits = [], []
        for r, cell in enumerate(batch["cells"]):
            if cell >= 0:
                image = hidden[r][batch["mm_token_type_ids"][r].bool()]
                loss, hit = pointer_head(hidden[r, batch["prompt_lengths"][r] - 1], image, torch.tensor(cell))
                losses.append(loss)
                hits.append(hit.float())
        pointer_loss = torch.stack(losses).mean()
        extra = extra + pointer_coef * pointer_loss
        stats.update(pointer_loss=pointer_loss.item(), pointer_acc=torch.stack(hits).mean().item())
    if attend_coef > 0:
        attended = attend(batch)
        if attended is not None:
            extra = extra + attend_coef * attended[0]
            stats.update(attend_loss=attended[0].item(), attend_acc=attended[1].item())
    if text_copy_coef > 0:
        copied = text_copier(batch)
        if copied is not None:
            extra = extra + text_copy_coef * copied[0]
            stats.update(text_copy_loss=copied[0].item(), text_attend_acc=copied[1].item(),
                         text_copy_acc=copied[2].item())
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    # The logits where an answer token is written, read once (each read of the whole [rows, width,
    # vocabulary] tensor costs its backward a zero tensor of that size); a packed forward computes
    # only these.
    logits = out.answer_logits if hasattr(out, "answer_logits") else out.logits[:, :-1][keep]
    logits = logits.float()
    per_token = torch.nn.functional.cross_entropy(logits, labels[keep], reduction="none")
    lm = per_token.mean()
    correct = (logits.argmax(-1) == labels[keep]).float().mean()
    aux = out.aux_loss if aux_coef > 0 and getattr(out, "aux_loss", None) is not None else torch.zeros(())
    stats.update(loss=lm.item(), token_acc=correct.item(), feature_penalty=penalty.item())
    train_lm = lm
    if number_sigma > 0:
        values = numbers.value_of[labels[keep]]
        at = values >= 0
        if at.any():
            log_p = torch.log_softmax(logits[at], -1)[:, numbers.ids]
            smooth = -(numbers.soft(values[at], number_sigma) * log_p).sum(-1)
            mixed = per_token.clone()
            mixed[at] = (1 - number_smooth) * per_token[at] + number_smooth * smooth
            train_lm = mixed.mean()
            got = numbers.value_of[logits[at].argmax(-1)]
            stats.update(number_within_2=((got >= 0) & ((got - values[at]).abs() <= 2)).float().mean().item())
    return train_lm + aux_coef * aux + feature_coef * penalty + extra, stats


def packed_forward(model, batch, router_logits, hidden_states, kwargs, recorders):
    """--pack: the model on the batch's packed sequence (Examples.packing): each row's tokens attend
    to the shared start and to the row's own earlier tokens, at the positions (MRoPE) they have
    in the row alone. Returns the logits where the rows write their answers ("answer_logits", in
    forward_loss's order) and the hidden states as the rows' ([rows, width, hidden]), and makes
    what the auxiliary losses' hooks recorded (attention weights and inputs, the final norm's
    input) read as the rows', so that every loss sees the rows as if each had run alone: the same
    loss and gradients (packed_parity.py), but the router's balancing loss, which counts the
    shared start once."""
    packed, rows = batch["packed"], batch["input_ids"]
    positions, _ = model.model.get_rope_index(rows, batch["mm_token_type_ids"],
                                              batch["image_grid_thw"].repeat(rows.shape[0], 1),
                                              attention_mask=batch["attention_mask"])
    index, ids, segment = packed["index"], packed["ids"], packed["segment"]
    place = torch.zeros((3, 1, ids.shape[1]), dtype=positions.dtype)
    real = batch["attention_mask"].bool()
    place[:, 0, index[real]] = positions[:, real]
    later = torch.arange(ids.shape[1])
    allowed = (later[None, :] <= later[:, None]) & ((segment[None, :] < 0) | (segment[None, :] == segment[:, None]))
    mask = additive_mask(allowed)
    # The decoder as the model's own forward runs it; the lm_head at the answers only; the balancing
    # loss without the model's 2-D padding mask (here every token is real).
    inner = model.model(input_ids=ids, attention_mask=mask, position_ids=place,
                        mm_token_type_ids=(ids == model.config.image_token_id).int(),
                        output_router_logits=router_logits, output_hidden_states=hidden_states, **kwargs)
    text = model.config.text_config
    writes = index[:, :-1][batch["labels"][:, 1:] != -100]
    out = types.SimpleNamespace(
        answer_logits=model.lm_head(inner.last_hidden_state[0, writes]),
        hidden_states=None if inner.hidden_states is None else tuple(h[0][index] for h in inner.hidden_states),
        aux_loss=load_balancing_loss_func(inner.router_logits, text.num_experts, text.num_experts_per_tok)
        if router_logits else None)
    read_as_rows(recorded_by(recorders, writes), index)
    return out


def additive_mask(allowed):
    """A [L, L] boolean of which keys each query may see as the additive [1, 1, L, L] mask the
    attention takes."""
    return torch.zeros(allowed.shape).masked_fill(~allowed, torch.finfo(torch.float32).min)[None, None]


def recorded_by(recorders, queries):
    """What the auxiliary losses' hooks recorded in the last packed pass, kept: (recorder, attention
    weights as AnswerRows at `queries`, attention inputs, final norm input) for each recorder.
    `queries`: the sequence's places whose hidden state writes an answer token, the only queries
    whose weights the losses read."""
    return [(r, {layer: AnswerRows(w, queries) for layer, w in (getattr(r, "weights", None) or {}).items()},
             dict(getattr(r, "inputs", None) or {}), getattr(r, "final_input", None))
            for r in recorders if r is not None]


def read_as_rows(recorded, index):
    """Points the recorders at a packed pass's recordings read as rows (`index`: [rows, width] places
    in the sequence), so that the losses read them as if each row had run alone."""
    for recorder, weights, inputs, final in recorded:
        if weights:
            recorder.weights = {layer: PackedWeights(w, index) for layer, w in weights.items()}
            recorder.inputs = {layer: x[0][index] for layer, x in inputs.items()}
        if final is not None:
            recorder.final_input = final[0][index]


class AnswerRows:
    """A packed pass's attention weights ([1, heads, L, L]) at the queries that write answer tokens:
    gathered once ([heads, queries, L]) for every loss that reads them. Why: each read of the whole
    tensor made its backward fill a zero tensor of the whole size and copy it into another (the
    [0] that dropped the batch), then add it to the rest of the weights' gradient. Fills were 12%
    of a parent step's operator time (the nested episodes' 1 200-token sequences, [4, L, L]
    float32 each) and are 2.6% with one gather per pass; the step is 0.95 to 0.98 times as long
    and logs the same numbers (the sixty-second run in README.md)."""

    def __init__(self, weights, queries):
        queries = torch.unique(queries)
        self.rows = weights.index_select(2, queries)[0]
        self.slot = torch.full((weights.shape[-2],), -1, dtype=torch.long)
        self.slot[queries] = torch.arange(len(queries))

    def at(self, heads, queries, keys):
        """weights[0, heads, queries, keys] (broadcast as advanced indices), of gathered queries only."""
        slots = self.slot[queries]
        if (slots < 0).any():
            raise IndexError("AnswerRows: a loss read the weights of a query that writes no answer token")
        return self.rows[heads, slots, keys]


class PackedWeights:
    """A packed forward's attention weights (AnswerRows) read as the rows' ([rows, heads, width,
    width]) the one way the losses read them (gather_rows: weights[rows, heads, positions], each a
    query's weights over its row's keys; a row's padding reads the sequence's first key), without
    building the rows' whole tensor."""

    def __init__(self, answer_rows, index):
        self.answer_rows, self.index = answer_rows, index

    def __getitem__(self, key):
        rows, heads, positions = key
        return self.answer_rows.at(heads[:, None], self.index[rows, positions][:, None], self.index[rows])


def images_of(enc, picks):
    """The tower's output (get_image_features') for the images at `picks`, in that order (repeats
    allowed): what the tower gives for the row's own images, computed once for several rows."""
    out = copy.copy(enc)
    out.pooler_output = tuple(enc.pooler_output[j] for j in picks)
    out.deepstack_features = [tuple(level[j] for j in picks) for level in enc.deepstack_features]
    return out


def episode_rows(model, data, unit):
    """--episodes: (example, tower output of its images) for each step of one task's unit, with the
    task's distinct screenshots through the tower once; gradients flow back through that one pass."""
    screens = list(dict.fromkeys(rel for i in unit for rel in data.items[i]["images"]))
    pixels = [data.pixels(rel) for rel in screens]
    shared = model.model.get_image_features(torch.cat([p for p, _ in pixels]), torch.cat([g for _, g in pixels]),
                                            return_dict=True)
    return [(data[i], images_of(shared, [screens.index(rel) for rel in data.items[i]["images"]])) for i in unit]


def prompt_length(batch):
    """How many tokens of a one-row example are its prompt (the labels are -100 there alone)."""
    return int((batch["labels"][0] == -100).sum())


def nested_chains(data, unit, rows):
    """--nest-episodes: the steps of an episode (episode_rows' order) as runs in which every step's
    prompt (the chat up to its answer, its screenshots among it) begins the run's last step's
    prompt: [[k, ...], ...]. A step whose screenshots do not continue the run's (the last 5 are
    shown) or whose chat differs otherwise starts a new run."""
    chains = []
    for k, (batch, _) in enumerate(rows):
        ids, shots = batch["input_ids"][0], data.items[unit[k]]["images"]

        def begins(j):
            n = prompt_length(rows[j][0])
            before = data.items[unit[j]]["images"]
            return n <= len(ids) and torch.equal(ids[:n], rows[j][0]["input_ids"][0, :n]) \
                and shots[:len(before)] == before
        if chains and all(begins(j) for j in chains[-1]):
            chains[-1].append(k)
        else:
            chains.append([k])
    return chains


def nested_passes(model, data, unit, rows, router_logits, hidden_states, recorders):
    """--nest-episodes: for each step of episode_rows' `rows`, (forward_loss's shared_pass, decoder
    tokens it adds). Why: a task's step k+1 asks step k's chat, step k's answer (as the agent
    writes it back, without the box tokens the answer itself writes) and one more screenshot, so
    the last step's row holds every earlier step's prompt at the same positions. One decoder pass
    per nested_chains run: the last step's row, then each earlier step's answer, which attends to
    its own prompt's part of that row and to itself at the positions (MRoPE) it has in its own row
    (a 4-D mask, as packed_forward's). Each step's logits, hidden states, router logits and what
    the auxiliary losses' hooks recorded are read back as its row's (PackedWeights), so the same
    loss and gradients, the balancing loss included (episode_parity.py), from the decoder tokens
    of the run's last step and the earlier answers."""
    out = [None] * len(rows)
    text = model.config.text_config
    for chain in nested_chains(data, unit, rows):
        last, enc = rows[chain[-1]]
        trunk = last["input_ids"][0]
        size, index = len(trunk), {}
        # Per token: its segment (-1: the trunk, else the step whose answer it is) and how far into
        # the trunk it may look (a step's answer: its own prompt).
        ids, segment, limit = [trunk], [torch.full((size,), -1)], [torch.full((size,), size)]
        for k in chain:
            row = rows[k][0]["input_ids"][0]
            if k == chain[-1]:
                index[k] = torch.arange(len(row))
                continue
            n = prompt_length(rows[k][0])
            index[k] = torch.cat([torch.arange(n), torch.arange(size, size + len(row) - n)])
            ids.append(row[n:])
            segment.append(torch.full((len(row) - n,), k))
            limit.append(torch.full((len(row) - n,), n))
            size += len(row) - n
        ids, segment, limit = torch.cat(ids)[None], torch.cat(segment), torch.cat(limit)
        place = torch.zeros((3, 1, size), dtype=torch.long)
        for k in chain:
            batch = rows[k][0]
            positions, _ = model.model.get_rope_index(batch["input_ids"], batch["mm_token_type_ids"],
                                                      batch["image_grid_thw"],
                                                      attention_mask=torch.ones_like(batch["input_ids"]))
            place[:, 0, index[k]] = positions[:, 0].to(place.dtype)
        later = torch.arange(size)
        trunk_key = (segment[None, :] < 0) & (later[None, :] < limit[:, None])
        own_key = (segment[None, :] == segment[:, None]) & (segment[:, None] >= 0)
        allowed = (later[None, :] <= later[:, None]) & (trunk_key | own_key)
        inner = model.model(input_ids=ids, attention_mask=additive_mask(allowed), position_ids=place,
                            mm_token_type_ids=(ids == model.config.image_token_id).int(),
                            output_router_logits=router_logits, output_hidden_states=hidden_states,
                            mm_encoder_outputs={"image": enc}, image_grid_thw=last["image_grid_thw"])
        # The places that write an answer token, of every step of the run (the hidden state at p
        # writes p+1): the only queries whose attention weights the losses read.
        writes = torch.cat([index[k][:-1][rows[k][0]["labels"][0, 1:] != -100] for k in chain])
        recorded = recorded_by(recorders, writes)

        def shared_pass(batch, index, inner=inner, recorded=recorded):
            read_as_rows(recorded, index[None])
            writes = (batch["labels"][0, 1:] != -100).nonzero()[:, 0]  # the hidden state at p writes p+1
            return types.SimpleNamespace(
                answer_logits=model.lm_head(inner.last_hidden_state[0, index[writes]]),
                hidden_states=None if inner.hidden_states is None else tuple(h[0][index][None] for h in inner.hidden_states),
                aux_loss=load_balancing_loss_func(tuple(r[index] for r in inner.router_logits), text.num_experts,
                                                  text.num_experts_per_tok) if router_logits else None)

        for k in chain:
            out[k] = (functools.partial(shared_pass, index=index[k]), size if k == chain[-1] else 0)
    return out


def vision_loss(model, data, image, label_head, feature_coef, contrast_head=None, contrast_coef=0.0):
    """--vision-only: the tower alone reads one screenshot (the label loss, the contrastive label
    loss with --contrast-aux, plus the feature penalty); the decoder does not run, and its input
    embeddings are the fixed targets."""
    pv, grid = data.pixels(image)
    enc = model.model.get_image_features(pv, grid, return_dict=True)
    # The decoder does not run here, so nothing would keep its input embeddings where the decoder
    # expects them: the tower learns to meet the words, the words stay put.
    words = embeddings(model).detach()
    loss, recall = label_head(enc.pooler_output[0], words, data.label_target(image))
    penalty = feature_penalty(list(enc.pooler_output) + [f for fs in enc.deepstack_features for f in fs])
    stats = {"label_loss": loss.item(), "label_recall": recall.item(), "feature_penalty": penalty.item()}
    widgets = data.widget_target(image) if contrast_coef > 0 else None
    if widgets is not None:
        contrast_loss, matched = contrast_head(enc.pooler_output[0], words, widgets)
        loss = loss + contrast_coef * contrast_loss
        stats.update(contrast_loss=contrast_loss.item(), contrast_acc=matched.item())
    return loss + feature_coef * penalty, stats


def map_vocabulary(state, old_tok, new_tok, model):
    """--init-tokenizer: rewrites the state's vocabulary-sized tensors (input embeddings, lm_head,
    the label head's bias) from the old tokenizer's ids to the new one's, by token. A token the old
    one lacks (a number from add_number_tokens.py) starts from the new model's random initial row
    plus, as input, the mean of its digits' rows and, in the lm_head, its first digit's row (where
    the old model wrote the first digit, the new one writes the whole number)."""
    old_vocab, fresh = old_tok.get_vocab(), model.state_dict()
    pieces = {}
    for token, new_id in new_tok.get_vocab().items():
        if token in old_vocab:
            pieces[new_id] = [old_vocab[token]]
        elif is_number(token):
            pieces[new_id] = [old_vocab[d] for d in token]
    for name, first_only in (("model.language_model.embed_tokens.weight", False), ("lm_head.weight", True)):
        old, new = state["model"][name], fresh[name].clone()
        for new_id, ids in pieces.items():
            if len(ids) == 1:
                new[new_id] = old[ids[0]]
            else:
                new[new_id] += old[ids[0]] if first_only else old[ids].mean(0)
        state["model"][name] = new
    if "label_head" in state:
        bias = torch.full((new_tok.get_vocab_size(),), -4.0)
        for new_id, ids in pieces.items():
            bias[new_id] = state["label_head"]["bias"][ids].mean()
        state["label_head"]["bias"] = bias
    print(f"mapped {len(pieces)} of {new_tok.get_vocab_size()} token rows from {len(old_vocab)} old ones")


def sinusoids(values, periods):
    """[len(values), 2 * len(periods)]: sin and cos of each value at each period, interleaved."""
    angle = 2 * math.pi * values.double()[:, None] / periods.double()[None, :]
    return torch.stack([angle.sin(), angle.cos()], -1).flatten(1).float()


def position_init(model, numbers, image_size, std, cell=16):
    """--position-init: a from-scratch model starts with positions it can copy. The vision tower's
    learnt position table (pos_embed, 40x40 entries interpolated to the patch grid) gets, in its
    first third of dimensions, sinusoids of the x and in its second third of the y (in model-image
    pixels, at the image size the family shows, so that each patch's entry says its own centre),
    with `std` per dimension; the number tokens' rows of the input embeddings and the lm_head get
    sinusoids of their value (periods from 3 to 4096, at the default init's scale), so that
    neighbouring numbers start alike and the copy path (CopyLoss) has an ordered code to map to. Why:
    with the default init the position table's entries (std 0.02) are about a twentieth of the
    patch embedding's output, so where a token sits is nearly absent from what the decoder reads,
    and the copy path and the soft number targets have to build an order from noise (the
    thirty-eighth run: 11% copy accuracy at steps 251-300). Architecture and checkpoint layout are
    unchanged: this is an initial value only; what it gains is measured in the thirty-ninth run."""
    visual = model.model.visual
    table = visual.pos_embed.weight
    side, width = visual.num_grid_per_side, table.shape[1]
    band = width // 3 // 2 * 2  # dimensions per axis, an even number (sin and cos)
    w, h = image_size
    periods = torch.logspace(math.log10(48), math.log10(4096), band // 2)
    grid = torch.arange(side, dtype=torch.float64)
    # The tower interpolates the table bilinearly with aligned corners: its first and last entries
    # fall on the first and last patch of each axis, the rest evenly between.
    xs = cell * grid * (w // cell - 1) / (side - 1) + cell / 2
    ys = cell * grid * (h // cell - 1) / (side - 1) + cell / 2
    x_code, y_code = sinusoids(xs, periods), sinusoids(ys, periods)
    scale = std * math.sqrt(2)  # sin and cos of a uniform phase have std 1/sqrt(2)
    with torch.no_grad():
        rows = table.view(side, side, width)
        rows[:, :, :band] = scale * x_code[None, :, :]
        rows[:, :, band:2 * band] = scale * y_code[:, None, :]
        text = model.model.language_model.embed_tokens.weight
        hidden = text.shape[1]
        # Periods down to 3: neighbouring numbers must still be told apart.
        code = sinusoids(numbers.values, torch.logspace(math.log10(3), math.log10(4096), hidden // 2))
        for weight in (text, model.lm_head.weight):
            weight[numbers.ids] = weight.std() * math.sqrt(2) * code.to(weight.dtype)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def evaluate(model, data, limit):
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for i in range(min(limit, len(data))):
            _, stats = forward_loss(model, data[i], 0.0)
            losses.append(stats["loss"])
            accs.append(stats["token_acc"])
    model.train()
    return sum(losses) / max(1, len(losses)), sum(accs) / max(1, len(accs))


def cpu_has_bf16():
    """Whether the CPU has bf16 dot-product instructions (Linux: /proc/cpuinfo's flags); True when
    that cannot be read, so that nothing is claimed about an unknown CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), None)
    except OSError:
        return True
    return flags is None or any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def main():
    # No abbreviations: train_scratch.sh reads the parent's --steps from its own arguments, and would
    # not see an abbreviated "--ste 1800" that argparse took for --steps.
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--data", required=True, help="make_dataset.py's --out (several: comma-separated)")
    ap.add_argument("--tokenizer", default=os.path.join(nc.ROOT, "tests/data/engine/nano_tokenizer/tokenizer.json"))
    ap.add_argument("--work", required=True, help="state.pt and log.jsonl (resumable)")
    ap.add_argument("--out", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--steps", type=int, default=3000, help="optimiser steps in all")
    ap.add_argument("--accumulate", type=int, default=4, help="training units per optimiser step")
    ap.add_argument("--group", type=int, default=8,
                    help="grounding examples of one screen per unit (vision runs once for them); 1: none")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--optimizer", choices=["adamw", "muon"], default="adamw",
                    help="adamw (the committed line's) or muon: Muon for the hidden matrices, AdamW for the "
                         "rest, on the same lr schedule (muon.py; the fiftieth run)")
    ap.add_argument("--muon-dtype", choices=["float32", "bfloat16"], default="float32",
                    help="what Muon's Newton-Schulz iteration runs in: bfloat16 halves the optimiser's time on "
                         "AVX512_BF16 cores (the fifty-seventh run); float32 is what the committed line used")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--heads-first", type=int, default=0,
                    help="the first N steps train the auxiliary heads alone, at the peak --lr (the model's "
                         "gradients are dropped); --warmup and the cosine then start. For a start whose heads "
                         "are fresh (--init with a checkpoint folder), so that their first random gradients "
                         "do not reach the model")
    ap.add_argument("--aux-coef", type=float, default=0.01, help="MoE load-balancing loss weight")
    ap.add_argument("--feature-coef", type=float, default=1.0,
                    help="weight of the image-embedding penalty (feature_penalty); 0: off")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--kinds", default="grounding,task", help="example kinds to train on (a curriculum stage)")
    ap.add_argument("--roles", metavar="ROLE,...",
                    help="keep only the grounding (and --read-aux) examples whose target has one of these roles "
                         "(button, checkbox, radio, list_item, tab, menu); task and --parse-aux examples stay whole")
    ap.add_argument("--read-aux", action="store_true",
                    help="also train the inverse of each grounding example (point in, instruction out)")
    ap.add_argument("--parse-aux", action="store_true",
                    help="also train one screen-parsing example per screenshot (every widget, in reading order)")
    ap.add_argument("--label-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the dense label loss (LabelHead): every image token of a screenshot with a "
                         "layout beside it learns the words of the widgets it shows; 0: off")
    ap.add_argument("--contrast-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the contrastive label loss (ContrastHead): each labelled widget's image features "
                         "must match its own label's embedding better than the screen's other labels; 0: off")
    ap.add_argument("--contrast-bank", action="store_true",
                    help="--contrast-aux scores each widget against every label of the training layouts, not only "
                         "its screen's")
    ap.add_argument("--pointer-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the pointer loss (PointerHead): a grounding row's end of prompt must pick "
                         "the image token under the answer's point; 0: off")
    ap.add_argument("--attend-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the attention loss (AttendLoss): where a grounding answer writes a coordinate "
                         "(a number token), head 0 of --attend-layers must attend to the image token under the point; 0: off")
    ap.add_argument("--attend-layers", default="2,3", help="decoder layers whose head 0 --attend-aux supervises")
    ap.add_argument("--attend-split", metavar="X,Y",
                    help="--attend-aux: query head X fetches the answer's x and head Y its y (heads of different KV "
                         "groups, e.g. 0,2), each attending to the first token where the other fetches")
    ap.add_argument("--copy-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the copy loss (CopyLoss, needs --attend-split and number tokens): the fetching "
                         "heads' value and output maps, read by the lm_head's number rows, must tell each image "
                         "token's widget centre; 0: off")
    ap.add_argument("--copy-sigma", type=float, default=0.0, metavar="PX",
                    help="the width of --copy-aux's smoothed targets (a click need only land on the widget); "
                         "0: --number-sigma's")
    ap.add_argument("--copy-layers", default="3", help="the layers of --attend-layers whose heads --copy-aux trains")
    ap.add_argument("--attend-tasks", action="store_true",
                    help="--attend-aux also supervises task steps that click one point (the last screenshot's token "
                         "under it), not only grounding rows")
    ap.add_argument("--place-tasks", action="store_true",
                    help="--copy-aux and --position-aux also train on task steps (the last screenshot's tokens), "
                         "not only on grounding rows")
    ap.add_argument("--text-copy-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the text copy loss (TextCopyLoss, needs --attend-aux for its attention weights): "
                         "where the answer writes a token of the instruction, the copy head attends to it there and "
                         "its value/output path says it; 0: off")
    ap.add_argument("--text-copy-layer", type=int, default=3, help="the decoder layer of --text-copy-aux's head")
    ap.add_argument("--text-copy-head", type=int, default=1,
                    help="the query head --text-copy-aux trains (default 1: not one of --attend-split 0,2)")
    ap.add_argument("--position-aux", type=float, default=0.0, metavar="COEF",
                    help="weight of the position loss (PositionProbe, needs --attend-aux and number tokens): the image "
                         "tokens' hidden states at the input of --attend-layers must tell their widget's centre; 0: off")
    ap.add_argument("--position-shared", choices=("smallest", "dominant"), default="smallest",
                    help="the --position-aux and --copy-aux target of a cell that several labelled widgets overlap: "
                         "the smallest widget's centre (the runs up to jX), or the centre of the one that overlaps it "
                         "at least twice as much as any other, else none (dominant)")
    ap.add_argument("--pointer-blend", action="store_true",
                    help="point finer than one image token: --attend-aux spreads the fetching heads' attention over "
                         "the four tokens around the point (bilinear shares), and --copy-aux teaches the copy of "
                         "any such blend to write the point between their centres (blend_cells)")
    ap.add_argument("--pointer-own", action="store_true",
                    help="with --pointer-blend: a token that shows one labelled widget copies that widget's centre "
                         "(others their cell's), and the fetching heads attend anywhere among the target's such "
                         "tokens, or blend bracketing tokens where there are none (own_targets, own_blend)")
    ap.add_argument("--pointer-own-rows", action="store_true",
                    help="with --pointer-own: a token copies a widget's centre only where every other labelled widget "
                         "on its cell is centred at the same height (a row of buttons, not a stack of radios)")
    ap.add_argument("--number-sigma", type=float, default=0.0, metavar="PX",
                    help="smooth the answer loss on number tokens over neighbouring numbers with a Gaussian of this "
                         "width (also the width of --position-aux's targets); 0: off")
    ap.add_argument("--number-smooth", type=float, default=0.5,
                    help="share of the smoothed loss on number tokens when --number-sigma is on")
    ap.add_argument("--init-tokenizer",
                    help="the tokenizer --init's state was trained with, when it differs from --tokenizer "
                         "(add_number_tokens.py): embedding rows are mapped by token, and new tokens start from "
                         "their digits' rows (map_vocabulary)")
    ap.add_argument("--episodes", action="store_true",
                    help="a task's steps form one training unit whose screenshots go through the vision tower "
                         "once (a step shows up to 5, most of them its earlier steps'): the same loss and "
                         "gradient as the steps one by one, about half the tower passes of task units")
    ap.add_argument("--nest-episodes", action="store_true",
                    help="with --episodes: one decoder pass for a task's steps, the last step's row holding every "
                         "earlier step's prompt, each earlier answer added after it (nested_passes): the same loss and "
                         "gradients (episode_parity.py) from about half the decoder tokens of task units")
    ap.add_argument("--task-share",
                    help="the fraction of each step's units that are task units (e.g. 1/3), the rest grounding "
                         "(and read, parse) units, each kind in its own seeded order (unit_draw.py); or a schedule, "
                         "'1/6,1/2@1364' (1/2 from step 1364 on), which a resumed run may change from its step on; "
                         "default: one order of all units, the mix the data has")
    ap.add_argument("--screenshot-first", action="store_true",
                    help="the screenshot before the prompt in the first user turn (nano_common.in_layout); "
                         "the checkpoint's deskpilot.json then says so, for the engine to ask it the same way")
    ap.add_argument("--pack", action="store_true",
                    help="with --screenshot-first: the grounding examples of one screen as one sequence, what they "
                         "share (the chat up to the instruction, the screenshot among it) computed once; the same "
                         "loss and gradients (packed_parity.py) from about a fifth of the decoder tokens")
    ap.add_argument("--position-init", type=float, default=0.0, metavar="STD",
                    help="from scratch: start the vision position table and the number tokens' rows from "
                         "sinusoids of position and value (position_init), the table's at this std per "
                         "dimension; 0: transformers' default init")
    ap.add_argument("--vision-only", action="store_true",
                    help="train the vision tower (and the input embeddings) on the label loss alone, one "
                         "screenshot per unit, without the decoder: a cheap pretraining stage")
    ap.add_argument("--shift", type=int, default=0, metavar="PX",
                    help="augment: move each screenshot of a grounding or --vision-only unit (with its layout and "
                         "the points its answers write) by whole exact steps up to PX model pixels (rounded up) each "
                         "way (at 960x576: 6 across, 18 down), so that each label is seen at more places of the "
                         "32-pixel grid; 0: off")
    ap.add_argument("--shift-fill", choices=("edge", "black", "colour"), default="edge",
                    help="with --shift, what the strip a moved screenshot uncovers shows: its edge rows and columns "
                         "repeated (edge), black (the empty Xvfb desktop `deskpilot eval --window-offset` shows), or "
                         "a random solid colour per unit (colour: a desktop of any colour)")
    ap.add_argument("--init", help="start from the weights of another run's state.pt (the previous stage), of "
                    "save_weights.py's file, or of a checkpoint folder (models/deskpilot-nano, with its "
                    "training_heads.safetensors when it has one; otherwise the auxiliary heads start fresh)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-autocast", dest="autocast", action="store_false",
                    help="compute in f32; by default matmuls run in bf16 under torch.autocast (f32 master "
                         "weights and loss), 1.7x faster per example on an AVX512-BF16 CPU, same loss")
    ap.add_argument("--autocast", dest="autocast", action="store_true",
                    help="bf16 autocast again after an earlier --no-autocast (the last of the two wins), so that a "
                         "run of line_flags.sh's line can switch it back on")
    ap.add_argument("--save-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-examples", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=0, help="stop (and save) after this long; 0: no limit")
    ap.add_argument("--profile", type=int, default=0,
                    help="run this many steps under torch.profiler, print where the time went (operators by self "
                         "time, then by input shape), and exit without saving a state or a checkpoint")
    ap.add_argument("--dtype", choices=list(nano_model.DTYPES), default="bf16", help="of the written checkpoint")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    # On two threads some CPU kernel's sums depend on the threads' timing: two runs of the same
    # command logged different losses from step 2 or 3 and drifted apart (the parent: the third digit
    # by step 100). PyTorch's deterministic kernels repeat a two-thread run to the last digit at no
    # measured cost, and change nothing at one thread (the sixty-first run in README.md). warn_only:
    # an op without a deterministic kernel warns instead of stopping the run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.manual_seed(a.seed)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.tokenizer)
    if a.autocast and not cpu_has_bf16():
        print("train.py: this CPU has no bf16 instructions (avx512_bf16, amx_bf16), where bf16 autocast runs "
              "about 10x slower than f32 (95-114 s a step against 9-17 s on a 2-core AVX2 EPYC); consider "
              "--no-autocast", file=sys.stderr)
    if not 0 <= a.heads_first < a.steps:
        sys.exit(f"train.py: --heads-first {a.heads_first}: expected 0 up to --steps ({a.steps})")
    kinds = tuple(a.kinds.split(","))
    if not set(kinds) <= {"grounding", "task"}:
        sys.exit(f"train.py: --kinds '{a.kinds}': expected grounding, task or both")
    numbers = Numbers(tok)
    if (a.position_aux > 0 or a.number_sigma > 0) and not numbers.multi_digit():
        sys.exit(f"train.py: --position-aux and --number-sigma need number tokens; {a.tokenizer} has digits only "
                 "(tools/train_nano/add_number_tokens.py)")
    if a.shift < 0:
        sys.exit(f"train.py: --shift {a.shift}: expected a distance in model pixels, 0 or more")
    if a.shift:
        try:
            shift_steps = [exact_step(n, screen) for n, screen in zip(nc.smart_resize(*nc.SCREEN), nc.SCREEN)]
        except ValueError as e:
            sys.exit(f"train.py: --shift {a.shift}: {e} (NANO_MAX_PIXELS={nc.MAX_PIXELS})")
        print(f"shift steps: {shift_steps[0]} model pixels across, {shift_steps[1]} down")
    roles = None
    if a.roles is not None:
        roles = set(a.roles.split(","))
        if not roles <= set(LABELLED_ROLES):
            sys.exit(f"train.py: --roles '{a.roles}': expected some of {', '.join(LABELLED_ROLES)}")
    dirs = a.data.split(",")
    train = Examples(dirs, tok, "train", kinds, a.read_aux, a.parse_aux, roles)
    val = Examples(dirs, tok, "val", kinds)
    train.position_shared = val.position_shared = a.position_shared
    if not len(train):
        sys.exit(f"train.py: no training examples in {a.data}")
    units = train.screens() if a.vision_only else train.units(a.group, a.episodes)
    if a.vision_only and not units:
        sys.exit(f"train.py: --vision-only: no screenshot in {a.data} has a layout (tools/train_nano/add_layouts.py)")
    share = None
    if a.task_share is not None:
        if a.vision_only or set(kinds) != {"grounding", "task"}:
            sys.exit(f"train.py: --task-share {a.task_share}: needs --kinds grounding,task (and no --vision-only)")
        try:
            share = unit_draw.parse_schedule(a.task_share)
        except ValueError as e:
            sys.exit(f"train.py: --task-share {e}")

    def is_task_unit(unit):  # a unit's first example says its kind (an episode's steps are all "task")
        return train.items[unit[0]]["kind"] == "task"

    try:
        draw = unit_draw.UnitDraw(units, is_task_unit, a.seed, share)
    except ValueError as e:
        sys.exit(f"train.py: --task-share {a.task_share}: {e} in {a.data}")
    config = nano_model.build_config(tok)
    model = nano_model.build_model(config, a.seed)
    nano_model.patch_embed_as_linear(model)  # the Conv3d's CPU kernels were a third of a step
    if a.position_init > 0:
        if a.init:
            sys.exit("train.py: --position-init starts a model from scratch; it does not go with --init")
        position_init(model, numbers, train.image_size, a.position_init)
    model.train()
    total, vision = nano_model.count_parameters(model)
    attend = None
    if a.attend_aux > 0:
        split_heads = (0, 0)
        if a.attend_split:
            groups = config.text_config.num_attention_heads // config.text_config.num_key_value_heads
            try:
                split_heads = tuple(int(x) for x in a.attend_split.split(","))
                if len(split_heads) != 2 or heads_out_of_range(split_heads, config) \
                        or split_heads[0] // groups == split_heads[1] // groups:
                    raise ValueError
            except ValueError:
                sys.exit(f"train.py: --attend-split '{a.attend_split}': expected two query heads of different KV "
                         f"groups (of {config.text_config.num_attention_heads} heads, {groups} to a group)")
        attend = AttendLoss(model, [int(x) for x in a.attend_layers.split(",")], numbers.ids, split_heads)
    if a.pointer_blend:
        if attend is None or not attend.split():
            sys.exit("train.py: --pointer-blend needs --attend-aux with --attend-split")
        attend.blend = True
    if a.pointer_own:
        if not a.pointer_blend:
            sys.exit("train.py: --pointer-own needs --pointer-blend")
        train.pointer_own = True
    if a.pointer_own_rows:
        if not a.pointer_own:
            sys.exit("train.py: --pointer-own-rows needs --pointer-own")
        train.own_one_row = True
    if a.nest_episodes and not a.episodes:
        sys.exit("train.py: --nest-episodes needs --episodes (a task's steps as one unit)")
    if a.pack and not a.screenshot_first:
        sys.exit("train.py: --pack needs --screenshot-first (instruction first, the rows differ before the screenshot)")
    train.screenshot_first = val.screenshot_first = a.screenshot_first
    train.pack = a.pack
    if a.position_aux > 0 and attend is None:
        sys.exit("train.py: --position-aux reads the layers of --attend-aux; give both")
    copier = None
    if a.copy_aux > 0:
        copy_layers = [int(x) for x in a.copy_layers.split(",")]
        if attend is None or not attend.split() or not set(copy_layers) <= set(attend.layers):
            sys.exit("train.py: --copy-aux needs --attend-aux with --attend-split, and --copy-layers among "
                     "--attend-layers")
        if not numbers.multi_digit():
            sys.exit(f"train.py: --copy-aux needs number tokens; {a.tokenizer} has digits only")
        blend = (train.image_size, torch.Generator()) if a.pointer_blend else None
        copier = CopyLoss(model, attend, copy_layers, numbers, max(a.copy_sigma or a.number_sigma, 1.0), blend)
    text_copier = None
    if a.text_copy_aux > 0:
        if attend is None:
            sys.exit("train.py: --text-copy-aux reads the attention weights --attend-aux records; give both")
        if heads_out_of_range([a.text_copy_head], config) or a.text_copy_head in attend.heads:
            sys.exit(f"train.py: --text-copy-head {a.text_copy_head}: expected a query head other than --attend-split's")
        try:
            text_copier = TextCopyLoss(model, attend, a.text_copy_layer, a.text_copy_head)
        except ValueError as e:
            sys.exit(f"train.py: --text-copy-layer: {e}")
    if a.attend_tasks:
        if attend is None or not attend.split():
            sys.exit("train.py: --attend-tasks needs --attend-aux with --attend-split")
        train.number_ids = set(numbers.ids.tolist())
    if a.place_tasks:
        if a.copy_aux <= 0 and a.position_aux <= 0:
            sys.exit("train.py: --place-tasks needs --copy-aux or --position-aux")
        train.place_tasks = True
    label_head = LabelHead(tok.get_vocab_size())
    position_probe = PositionProbe(config.text_config.hidden_size, attend.layers if attend else [], numbers,
                                   max(a.number_sigma, 1.0))
    pointer_head = PointerHead(config.text_config.hidden_size)
    contrast_head = ContrastHead(train.label_bank() if a.contrast_bank else None)
    if a.contrast_bank:
        print(f"contrast bank: {len(contrast_head.bank)} labels")
    # Only the heads in use join the optimiser, so that a run resumes with the flags it started with.
    heads = list(label_head.parameters()) if a.label_aux > 0 or a.vision_only else []
    heads += list(pointer_head.parameters()) if a.pointer_aux > 0 else []
    heads += list(position_probe.parameters()) if a.position_aux > 0 else []
    heads += list(contrast_head.parameters()) if a.contrast_aux > 0 else []
    try:
        opt = muon.make_optimizer(a.optimizer, model, heads, a.lr, getattr(torch, a.muon_dtype))
    except ValueError as e:
        sys.exit(f"train.py: {e}")
    os.makedirs(a.work, exist_ok=True)
    # Every start appends its exact command: a run folder tells how it was made even when the
    # README's command lines say "(the same flags)".
    with open(os.path.join(a.work, "commands.txt"), "a") as commands:
        commands.write(" ".join(shlex.quote(arg) for arg in [sys.executable, *sys.argv]) + "\n")
    state_path = os.path.join(a.work, "state.pt")
    step, seen = 0, 0
    if a.init and not os.path.exists(state_path):
        if os.path.isdir(a.init):
            # An engine checkpoint folder (the committed one): its weights, and the auxiliary
            # heads when it has them (training_heads.safetensors); otherwise they start fresh.
            try:
                init = nano_model.checkpoint_state(a.init)
            except Exception as e:  # a missing or corrupt model.safetensors: one line
                sys.exit(f"train.py: --init {a.init}: not a checkpoint folder ({e})")
            print(f"auxiliary heads from {a.init}: {', '.join(k for k in init if k in nano_model.HEADS) or 'none (fresh)'}")
        else:
            init = torch.load(a.init, weights_only=False)
        if init.get("screenshot_first", False) != a.screenshot_first:
            sys.exit(f"train.py: --init {a.init} was trained {'with' if init.get('screenshot_first') else 'without'} "
                     "--screenshot-first; go on the same way (the prompts' layout)")
        if a.init_tokenizer:
            map_vocabulary(init, Tokenizer.from_file(a.init_tokenizer), tok, model)
        model.load_state_dict(init["model"])
        if "label_head" in init:
            label_head.load_state_dict(init["label_head"])
        if "pointer_head" in init:
            pointer_head.load_state_dict(init["pointer_head"])
        if "contrast_head" in init:
            contrast_head.load_state_dict(init["contrast_head"])
        if position_probe.fits(init.get("position_probe")):
            position_probe.load_state_dict(init["position_probe"])
        print(f"weights from {a.init}")
    if os.path.exists(state_path):
        state = torch.load(state_path, weights_only=False)
        if state["seed"] != a.seed or state.get("group", 1) != a.group \
                or state.get("episodes", False) != a.episodes:
            # Each changes the list of units, whose seeded order the run resumes in.
            sys.exit(f"train.py: {state_path} was trained with --seed {state['seed']} --group "
                     f"{state.get('group', 1)}{' --episodes' if state.get('episodes') else ''}, not --seed "
                     f"{a.seed} --group {a.group}{' --episodes' if a.episodes else ''}")
        if state.get("screenshot_first", False) != a.screenshot_first:
            sys.exit(f"train.py: {state_path} was trained {'with' if state.get('screenshot_first') else 'without'} "
                     "--screenshot-first; resume it the same way (the prompts' layout)")
        if state.get("optimizer", "adamw") != a.optimizer:
            sys.exit(f"train.py: {state_path} was trained with --optimizer {state.get('optimizer', 'adamw')}; "
                     "resume it with the same one (its moments are that optimiser's)")
        model.load_state_dict(state["model"])
        if "label_head" in state:
            label_head.load_state_dict(state["label_head"])
        if "pointer_head" in state:
            pointer_head.load_state_dict(state["pointer_head"])
        if "contrast_head" in state:
            contrast_head.load_state_dict(state["contrast_head"])
        if position_probe.fits(state.get("position_probe")):
            position_probe.load_state_dict(state["position_probe"])
        try:
            opt.load_state_dict(state["opt"])
        except ValueError:
            sys.exit(f"train.py: {state_path} was trained with other --label-aux/--pointer-aux/--position-aux/--contrast-aux/"
                     "--vision-only settings (its optimiser holds other parameters); resume with the same ones")
        step, seen = state["step"], state["seen"]
        try:
            draw.load(state.get("draw"), seen, step)
        except ValueError as e:
            sys.exit(f"train.py: {state_path}: {e}; resume it with the same --task-share up to its step (the units' order)")
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step} ({seen} units seen)")
    print(f"{total / 1e6:.2f} M parameters ({vision / 1e6:.2f} M vision), {len(train)} train / {len(val)} val "
          f"examples in {len(units)} units, {a.threads} thread(s)", flush=True)
    if share is not None:
        print(f"--task-share {unit_draw.schedule_text(share)}: {draw.counts()['task']} task units, {draw.counts()['other']} others")

    def heads_state():
        return {"label_head": label_head.state_dict(), "pointer_head": pointer_head.state_dict(),
                "position_probe": position_probe.state_dict(), "contrast_head": contrast_head.state_dict()}

    def save_state():
        torch.save({"model": model.state_dict(), **heads_state(),
                    "opt": opt.state_dict(),
                    "step": step, "seen": seen, "draw": draw.state(),
                    "seed": a.seed, "group": a.group, "episodes": a.episodes, "screenshot_first": a.screenshot_first,
                    "optimizer": a.optimizer,
                    "torch_rng": torch.get_rng_state()}, state_path + ".tmp")
        os.replace(state_path + ".tmp", state_path)

    log = open(os.devnull if a.profile else os.path.join(a.work, "log.jsonl"), "a")
    last_step = min(step + a.profile, a.steps) if a.profile else a.steps
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True)
    if a.profile:
        profiler.start()
    start = time.time()
    while step < last_step:
        t0 = time.time()
        heads_only = step < a.heads_first
        for g in opt.param_groups:
            g["lr"] = a.lr if heads_only else lr_at(step - a.heads_first, a.steps - a.heads_first, a.lr, a.warmup)
        opt.zero_grad(set_to_none=True)
        sums, weights = {}, {}
        tokens = examples = 0
        # Each unit's index (its place in the run) seeds its --shift and --pointer-blend draws.
        picked = [(seen + k, unit) for k, unit in enumerate(draw.draw(step, a.accumulate))]
        seen += len(picked)
        total_examples = len(picked) if a.vision_only else sum(len(u) for _, u in picked)
        for index, unit in picked:
            train.shift, train.shift_fill = (0, 0), None
            episode = a.episodes and not a.vision_only and is_task_unit(unit)
            if a.shift and (a.vision_only or (len(unit) > 1 and not episode)):
                # Seeded by the unit's place in the run, so that a resumed run draws the same shifts.
                rng = random.Random(a.seed * 1_000_003 + index)
                train.shift = train.draw_shift([] if a.vision_only else unit, a.shift, rng)
                train.shift_fill = SHIFT_FILLS[a.shift_fill](rng)
            if copier is not None and copier.blend is not None:
                copier.blend[1].manual_seed(a.seed * 1_000_003 + index)  # as --shift: the same points on resume
            parts = []  # (loss, stats, examples it stands for) of the unit's forward passes
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.autocast):
                if a.vision_only:
                    parts.append((*vision_loss(model, train, unit, label_head, a.feature_coef, contrast_head,
                                               a.contrast_aux), 1))
                else:
                    if episode:
                        rows = [(batch, enc, 1, None) for batch, enc in episode_rows(model, train, unit)]
                        if a.nest_episodes:
                            passes = nested_passes(model, train, unit, [(b, e) for b, e, _, _ in rows],
                                                   a.aux_coef > 0, a.position_aux > 0,
                                                   [attend, copier, text_copier])
                            rows = [(b, e, size, shared) for (b, e, size, _), shared in zip(rows, passes)]
                    else:
                        rows = [(train.batch(unit) if len(unit) > 1 else train[unit[0]], None, len(unit), None)]
                    for batch, enc, size, shared in rows:
                        target = train.label_target(batch["image"]) if a.label_aux > 0 and "image" in batch \
                            else None
                        placement = train.position_target(batch["placed_image"]) \
                            if (a.position_aux > 0 or a.copy_aux > 0) and "placed_image" in batch else None
                        widgets = train.widget_target(batch["image"]) if a.contrast_aux > 0 and "image" in batch \
                            else None
                        parts.append((*forward_loss(model, batch, a.aux_coef, a.feature_coef, label_head, target,
                                                    a.label_aux, pointer_head, a.pointer_aux, attend, a.attend_aux,
                                                    position_probe, placement, a.position_aux, numbers,
                                                    a.number_sigma, a.number_smooth, contrast_head, widgets,
                                                    a.contrast_aux, copier, a.copy_aux, text_copier,
                                                    a.text_copy_aux, enc=enc,
                                                    shared_pass=shared and shared[0]), size))
                        packed = batch.get("packed")
                        tokens += shared[1] if shared else \
                            (packed["ids"] if packed is not None else batch["input_ids"]).numel()
            train.shift, train.shift_fill = (0, 0), None
            # Each unit weighs as many examples as it holds; an episode's steps go back together,
            # through their one tower pass.
            sum(loss * size for loss, _, size in parts).div(total_examples).backward()
            for _, stats, size in parts:
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + v * size
                    weights[k] = weights.get(k, 0) + size
                examples += size
        if heads_only:
            for p in model.parameters():
                p.grad = None  # AdamW skips a parameter without a gradient: the model stays put
        torch.nn.utils.clip_grad_norm_([p for p in list(model.parameters()) + heads if p.grad is not None], 1.0)
        opt.step()
        step += 1
        rec = {"step": step, **{k: sums[k] / weights[k] for k in sums}, "lr": opt.param_groups[0]["lr"],
               "seconds": time.time() - t0, "tokens": tokens, "examples": examples}
        if not a.vision_only and (step % a.eval_every == 0 or step == a.steps):
            rec["val_loss"], rec["val_token_acc"] = evaluate(model, val, a.eval_examples)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        print(json.dumps(rec), flush=True)
        out_of_time = a.max_seconds and time.time() - start > a.max_seconds
        if (step % a.save_every == 0 or step == a.steps or out_of_time) and not a.profile:
            save_state()
        if out_of_time:
            print(f"stopping after {time.time() - start:.0f} s at step {step} (--max-seconds)")
            break
    if a.profile:
        profiler.stop()
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
        print(profiler.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40))
        return
    save_state()
    model.eval()
    nano_model.save_checkpoint(model, config, a.tokenizer, a.out, nano_model.DTYPES[a.dtype], a.screenshot_first)
    nano_model.save_heads(a.out, heads_state())
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
