#!/usr/bin/env python3
"""Can --position-aux teach every widget its own point? train.py's position target gives each image
token (a 32x32 cell of the resized image) one point: the centre of the smallest labelled widget
covering the cell, the first in layout order on a tie (--position-shared smallest; with dominant,
the widget overlapping it at least twice as much as any other, else none). A widget none of whose
cells carries its own centre cannot be pointed at by copying a token's position: the copy path
would write a neighbour's.
For each role, over the screens of make_dataset.py's data sets: how many labelled widgets have
some cell that teaches their own point, and how many have it at the cell under their centre. No
model is read; the image size is nano_common's (NANO_MAX_PIXELS, as for training).

    tools/train_nano/position_report.py data-n1 [more ...] [--screens N] [--position-shared dominant]
"""
import argparse
import collections
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402
import train  # noqa: E402

CELL = nc.FACTOR  # an image token: a 16-pixel patch, merged 2x2


def tally(layout, size, counts, shared):
    targets = train.position_targets(layout, size, CELL, shared).tolist()
    scale = (size[0] / nc.SCREEN[0], size[1] / nc.SCREEN[1])
    grid = (size[0] // CELL, size[1] // CELL)
    for widget in layout["widgets"]:
        if not widget.get("visible") or widget["role"] not in train.LABELLED_ROLES or not widget.get("label"):
            continue
        x, y, w, h = widget["rect"]
        own = list(nc.to_model_point(x + w / 2, y + h / 2))
        column, row = int((x + w / 2) * scale[0] // CELL), int((y + h / 2) * scale[1] // CELL)
        role = counts[widget["role"]]
        role["widgets"] += 1
        role["some cell"] += any(targets[c] == own for c, _, _ in train.cell_overlaps(widget["rect"], size, CELL))
        role["centre cell"] += column < grid[0] and row < grid[1] and targets[row * grid[0] + column] == own


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="make_dataset.py's --out folders")
    ap.add_argument("--position-shared", choices=("smallest", "dominant"), default="smallest",
                    help="train.py's rule for a cell several widgets overlap")
    ap.add_argument("--screens", type=int, default=0, help="the first N layouts of each folder (0: all)")
    a = ap.parse_args()
    if a.screens < 0:
        ap.error(f"--screens {a.screens}: expected 0 (all) or more")
    size = nc.smart_resize(*nc.SCREEN)
    counts = collections.defaultdict(collections.Counter)
    screens = 0
    for folder in a.data:
        paths = sorted(glob.glob(os.path.join(folder, "screens", "*.layout.json")))
        if not paths:
            sys.exit(f"position_report.py: {folder}: no screens/*.layout.json (not a make_dataset.py --out folder)")
        for path in paths[:a.screens or None]:
            try:
                with open(path, encoding="utf-8") as f:
                    tally(json.load(f), size, counts, a.position_shared)
            except (OSError, ValueError, KeyError, TypeError) as e:
                sys.exit(f"position_report.py: {path}: not a sandbox layout ({e!r})")
            screens += 1
    print(f"{screens} screens at {size[0]}x{size[1]} ({size[0] // CELL}x{size[1] // CELL} tokens)")
    print("| role | widgets | some cell teaches its own point | the centre cell does |")
    print("|---|---:|---:|---:|")
    for role, c in sorted(counts.items()):
        n = c["widgets"]
        print(f"| {role} | {n} | {100 * c['some cell'] / n:.0f}% | {100 * c['centre cell'] / n:.0f}% |")


if __name__ == "__main__":
    main()
