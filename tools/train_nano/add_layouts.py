#!/usr/bin/env python3
"""Adds the sandbox's layout JSON to a make_dataset.py folder written before make_dataset saved it:
for every seed's first screen (screens/s<seed>_000.png, the screen before any step, which every
grounding example of the seed shows), renders the seed again offscreen and writes
screens/s<seed>_000.layout.json. The render must equal the stored screenshot pixel for pixel (but
for a blinking text caret), or the layout would describe another screen: a mismatch stops with an
error naming the seed.

    tools/train_nano/add_layouts.py --data data/nano [--sandbox build/bin/deskpilot-sandbox]
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--sandbox", default=os.path.join(nc.ROOT, "build", "bin", "deskpilot-sandbox"))
    a = ap.parse_args()
    from PIL import Image, ImageChops
    seeds = set()
    with open(os.path.join(a.data, "examples.jsonl"), encoding="utf-8") as f:
        for e in map(json.loads, f):
            seeds.add(e["seed"])
    written = 0
    for seed in sorted(seeds):
        png = os.path.join(a.data, "screens", f"s{seed}_000.png")
        out = png[:-len(".png")] + ".layout.json"
        if os.path.exists(out) or not os.path.exists(png):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            shot = os.path.join(tmp, "screen.png")
            try:
                layout = nc.render_screen(a.sandbox, seed, shot)
            except RuntimeError as e:
                sys.exit(f"add_layouts: {e}")
            with Image.open(shot) as new, Image.open(png) as old:
                diff = ImageChops.difference(new.convert("RGB"), old.convert("RGB")).getbbox()
        # The one allowed difference: a focused field's text caret (it blinks), a column at most
        # 2 px wide.
        if diff is not None and diff[2] - diff[0] > 2:
            sys.exit(f"add_layouts: seed {seed}: the render differs from {png} in {diff}; not writing a layout")
        with open(out + ".tmp", "w") as f:
            json.dump(layout, f)
        os.replace(out + ".tmp", out)
        written += 1
        if written % 100 == 0:
            print(f"{written} layouts ({seed})", flush=True)
    print(f"add_layouts: {written} layouts written under {a.data}/screens")


if __name__ == "__main__":
    main()
