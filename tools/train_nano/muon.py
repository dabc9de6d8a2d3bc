#!/usr/bin/env python3
"""Muon for deskpilot-nano's hidden matrices, AdamW for the rest (`train.py --optimizer muon`).

Muon (Keller Jordan, 2024) replaces each hidden weight matrix's update with the nearest
semi-orthogonal matrix to its Nesterov momentum, found by a few Newton-Schulz iterations. It trained
small transformers in fewer steps than AdamW in the nanoGPT speedruns; whether it does the same for
this model's reading is what the fiftieth run in README.md measures. The update is scaled by
0.2 * sqrt(max(rows, cols)) (Moonshot AI, "Muon is Scalable for LLM Training", 2025), which gives it
about AdamW's update size, so the run keeps train.py's one lr schedule and weight decay.

Which parameters it takes: the decoder's attention projections and experts, and the vision tower's
blocks and mergers. A fused matrix is orthogonalised part by part, since its parts act on different
things: the tower's qkv as its q, k and v, and each expert's gate_up_proj as its gate and its up half
(transformers splits it with chunk(2) on the output rows). Embeddings, lm_head, the position table,
the patch embedding, the routers, norms, biases and train.py's auxiliary heads stay with AdamW, as in
both papers.

    python3 tools/train_nano/muon.py --check   # the checks in check(), on a model from scratch (about 30 s)
"""
import argparse
import copy
import math
import os
import sys

import torch

# Quintic Newton-Schulz coefficients from Keller Jordan's Muon: they push every singular value of a
# normalised matrix into about [0.7, 1.2] in 5 steps, which is as orthogonal as Muon needs.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
ADAMW_NAMES = ("embed_tokens", "lm_head", "pos_embed", "patch_embed", "mlp.gate.weight")


def orthogonalize(g, steps=5, dtype=torch.float32):
    """The Newton-Schulz approximation of U V^T for g = U S V^T, per matrix of a (batch, rows, cols) stack,
    iterated in `dtype` (normalised in float32 first) and returned in float32.

    bfloat16 is what Keller Jordan's Muon iterates in: the iteration only has to land the singular
    values in a band, not on a point, and on this machine's AVX512_BF16 cores it halves the optimiser's
    time (1.53 s against 0.75 s a step for this model's matrices; the fifty-seventh run)."""
    a, b, c = NS_COEFFICIENTS
    x = g.float()
    wide = x.size(-2) <= x.size(-1)
    if not wide:
        x = x.mT  # iterate on the smaller Gram matrix
    x = (x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)).to(dtype)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    x = x.float()
    return x if wide else x.mT


def matrix_view(name, p):
    """(batch, rows, cols) that Muon orthogonalises p as, or None when p belongs to AdamW."""
    if p.ndim not in (2, 3) or any(part in name for part in ADAMW_NAMES):
        return None
    if name.endswith("attn.qkv.weight"):
        return (3, p.shape[0] // 3, p.shape[1])
    if name.endswith("experts.gate_up_proj"):
        return (p.shape[0] * 2, p.shape[1] // 2, p.shape[2])
    return tuple(p.shape) if p.ndim == 3 else (1, *p.shape)


class Muon(torch.optim.Optimizer):
    """Nesterov momentum, orthogonalised per matrix of its view, with decoupled weight decay.

    Not torch.optim.Muon (PyTorch 2.9+): it takes 2-D parameters only, so it can neither hold the
    experts' 3-D stacks nor orthogonalise a fused qkv or gate_up by its parts."""

    def __init__(self, params, views, lr, momentum=0.95, weight_decay=0.05, ns_steps=5, ns_dtype=torch.float32):
        super().__init__([{"params": list(params), "views": list(views)}],
                         dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps))
        # Not a group setting: a state_dict round trip keeps the groups' values, and the dtype is the
        # run's choice (--muon-dtype), not the checkpoint's.
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for p, view in zip(group["params"], group["views"]):
                if p.grad is None:
                    continue  # as AdamW: a parameter without a gradient stays put
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(p.grad)
                update = orthogonalize(p.grad.add(buf, alpha=momentum).reshape(view), group["ns_steps"],
                                        self.ns_dtype)
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update.reshape(p.shape), alpha=-lr * 0.2 * math.sqrt(max(view[1], view[2])))


class MuonAdamW:
    """Muon for the matrices matrix_view picks, AdamW for the rest: one optimiser to train.py."""

    def __init__(self, named_params, extra_params, lr, betas, weight_decay, ns_dtype=torch.float32):
        matrices, views, rest = [], [], []
        for name, p in named_params:
            view = matrix_view(name, p)
            if view is None:
                rest.append(p)
            else:
                matrices.append(p)
                views.append(view)
        self.muon = Muon(matrices, views, lr, weight_decay=weight_decay, ns_dtype=ns_dtype)
        self.adamw = torch.optim.AdamW(rest + list(extra_params), lr=lr, betas=betas, weight_decay=weight_decay)

    @property
    def param_groups(self):
        return self.muon.param_groups + self.adamw.param_groups

    def zero_grad(self, set_to_none=True):
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def step(self):
        self.muon.step()
        self.adamw.step()

    def state_dict(self):
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state):
        if set(state) != {"muon", "adamw"}:
            raise ValueError("not a Muon + AdamW state")
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def make_optimizer(kind, model, heads, lr, ns_dtype=torch.float32):
    """train.py's optimiser: AdamW (the committed line's) or Muon + AdamW (Newton-Schulz in ns_dtype)."""
    betas, weight_decay = (0.9, 0.95), 0.05
    if kind == "adamw":
        if ns_dtype != torch.float32:
            raise ValueError(f"--muon-dtype {str(ns_dtype).removeprefix('torch.')} needs --optimizer muon "
                             "(AdamW has no Newton-Schulz step)")
        return torch.optim.AdamW(list(model.parameters()) + list(heads), lr=lr, betas=betas,
                                 weight_decay=weight_decay)
    if kind == "muon":
        return MuonAdamW(model.named_parameters(), heads, lr, betas, weight_decay, ns_dtype)
    raise ValueError(f"unknown optimizer {kind!r}")


def check():
    """Self-checks: orthogonality, the split of the model's parameters, a resumed step equal to an unbroken one."""
    torch.manual_seed(0)
    failures = []
    for shape in [(1, 64, 192), (3, 192, 64), (16, 384, 256)]:
        for dtype in (torch.float32, torch.bfloat16):
            g = torch.randn(*shape)
            g[..., 0, :] *= 100  # ill-conditioned: one row far larger than the rest
            x = orthogonalize(g, dtype=dtype)
            s = torch.linalg.svdvals(x.float())
            if x.dtype != torch.float32 or not (s.min() > 0.5 and s.max() < 1.3):
                failures.append(f"orthogonalize {shape} in {dtype}: {x.dtype}, singular values in "
                                f"[{s.min():.3f}, {s.max():.3f}]")
            if dtype != torch.float32 and torch.equal(x, orthogonalize(g)):
                failures.append(f"orthogonalize {shape}: the same in {dtype} as in float32 (dtype ignored?)")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import model as nano_model  # this folder's model.py
    from tokenizers import Tokenizer
    tokenizer = os.path.join(here, "..", "..", "models", "deskpilot-nano", "tokenizer.json")
    model = nano_model.build_model(nano_model.build_config(Tokenizer.from_file(tokenizer)), 0)
    opt = make_optimizer("muon", model, [], 1e-3)
    muon_ids = {id(p) for p in opt.muon.param_groups[0]["params"]}
    adamw_ids = {id(p) for p in opt.adamw.param_groups[0]["params"]}
    names = dict((id(p), n) for n, p in model.named_parameters())
    if muon_ids & adamw_ids or (muon_ids | adamw_ids) != set(names):
        failures.append("each parameter must be in exactly one of Muon and AdamW")
    # Written out again here, not read from ADAMW_NAMES, so that a name dropped there is caught.
    must_stay = ("model.language_model.embed_tokens.weight", "lm_head.weight", "model.visual.pos_embed.weight",
                 "model.visual.patch_embed.proj.weight", "model.language_model.layers.0.mlp.gate.weight")
    for n in must_stay:
        if n not in names.values() or n in (names[i] for i in muon_ids):
            failures.append(f"{n} must be a parameter with AdamW")
    for n in (names[i] for i in muon_ids):
        if n.endswith(".bias") or "norm" in n:
            failures.append(f"{n} must stay with AdamW")
    # A fused matrix goes part by part: expert 0's gate_up_proj as its gate and its up half, the
    # tower's qkv as its q, k and v rows, each orthogonalised on its own.
    params = dict(model.named_parameters())
    for fused, parts in [("model.language_model.layers.0.mlp.experts.gate_up_proj", 2),
                         ("model.visual.blocks.0.attn.qkv.weight", 3)]:
        p = params[fused]
        grad = torch.randn_like(p)
        got = orthogonalize(grad.reshape(matrix_view(fused, p))).reshape(p.shape)
        first = grad[0] if p.ndim == 3 else grad
        want = torch.cat([orthogonalize(part[None])[0] for part in first.chunk(parts, dim=0)])
        if not torch.allclose(got[0] if p.ndim == 3 else got, want, atol=1e-5):
            failures.append(f"{fused} must be orthogonalised as {parts} parts")
    try:
        make_optimizer("adamw", model, [], 1e-3, torch.bfloat16)
        failures.append("AdamW must refuse a Newton-Schulz dtype")
    except ValueError:
        pass
    n_muon = sum(p.numel() for p in opt.muon.param_groups[0]["params"])
    n_all = sum(p.numel() for p in model.parameters())
    print(f"Muon takes {len(muon_ids)} tensors ({n_muon / 1e6:.2f} M of {n_all / 1e6:.2f} M parameters)")

    def a_step(o):
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 1e-2
        o.step()

    for _ in range(2):
        a_step(opt)
    # deep copies: state_dict() hands out the live tensors, which the next step changes in place
    saved = ({k: v.clone() for k, v in model.state_dict().items()}, copy.deepcopy(opt.state_dict()))
    rng = torch.get_rng_state()
    a_step(opt)
    unbroken = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(saved[0])
    resumed = make_optimizer("muon", model, [], 1e-3)
    resumed.load_state_dict(saved[1])
    torch.set_rng_state(rng)
    a_step(resumed)
    if any(not torch.equal(unbroken[k], v) for k, v in model.state_dict().items()):
        failures.append("a step after a state_dict round trip differs from the unbroken one")
    try:
        torch.optim.AdamW(model.parameters()).load_state_dict(saved[1])
        failures.append("an AdamW must refuse a Muon + AdamW state")
    except (ValueError, KeyError):
        pass
    for f in failures:
        print("FAIL:", f)
    print("muon checks:", "failed" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="run the self-checks")
    if not parser.parse_args().check:
        parser.print_help()
        sys.exit(2)
    sys.exit(check())
