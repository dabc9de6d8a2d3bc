#!/usr/bin/env python3
"""Writes the engine checkpoint of a training state (train.py's --work/state.pt, or a copy of it)
without resuming the run: for evaluating snapshots while training goes on.

    tools/train_nano/export_state.py work/nano/state.pt /tmp/nano-step300
    build/bin/deskpilot eval grounding --model-dir /tmp/nano-step300 --family deskpilot-nano --seeds 0..9
"""
import argparse
import os
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import nano_common as nc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", help="a state.pt written by train.py")
    ap.add_argument("out", help="the checkpoint folder to write")
    ap.add_argument("--tokenizer", default=os.path.join(nc.ROOT, "tests/data/engine/nano_tokenizer/tokenizer.json"))
    ap.add_argument("--dtype", choices=list(nano_model.DTYPES), default="bf16")
    a = ap.parse_args()
    from tokenizers import Tokenizer
    config = nano_model.build_config(Tokenizer.from_file(a.tokenizer))
    model = nano_model.build_model(config, 0)
    state = nano_model.load_state(model, a.state, "export_state.py")
    nano_model.save_checkpoint(model, config, a.tokenizer, a.out, nano_model.DTYPES[a.dtype],
                               state.get("screenshot_first", False))
    nano_model.save_heads(a.out, {h: state[h] for h in nano_model.HEADS if state.get(h)})
    print(f"wrote {a.out} (step {state.get('step', 'unknown')})")


if __name__ == "__main__":
    main()
