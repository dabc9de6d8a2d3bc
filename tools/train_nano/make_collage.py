#!/usr/bin/env python3
"""Reading drills: screens of many buttons, cut from made data sets (make_dataset.py's) and pasted
onto one canvas, each asked for as a grounding example.

Why: what deskpilot-nano still misses most is which label belongs to which button (the forty-fifth
run: 60 of k2's 96 missed buttons were clicks on another button). A sandbox screen shows four
buttons, so one tower pass gives the contrastive and label losses four buttons to read and the
grounding rows four to tell apart. A collage shows up to one of each label the sandbox draws (14),
in rendered pixels (the crops are the sandbox's own buttons, at their own size), at places no
sandbox layout puts them. The layout beside each collage lists its buttons, so every auxiliary
loss of train.py reads it as any screen. Measured in the forty-ninth run (README.md): 300
collages beside train_scratch.sh's data did not read buttons faster in the first hour, and cost
the other roles; they are not part of the recipe.

Each collage takes --min-buttons to --max-buttons widgets of --roles with distinct (role, label),
each cut from a random training screen of the sources, and places them in distinct cells of a
grid over the screen (a random place inside the cell), on the background colour of one source
screen. OUT/screens holds the collages and their layouts; OUT/examples.jsonl one grounding example
per widget (split "train"), in the form and coordinates make_dataset.py writes.

    python3 tools/train_nano/make_collage.py --data data-s,data-t --out data-c --collages 300 --seed 50
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_dataset  # noqa: E402
import nano_common as nc  # noqa: E402

GRID = (5, 8)  # columns and rows of cells a collage places widgets in (256 x 100 screen pixels each)
MARGIN = 2  # screen pixels kept free on each side of a widget in its cell, so that no two touch


def cell_size():
    return nc.SCREEN[0] // GRID[0], nc.SCREEN[1] // GRID[1]


def source_widgets(data_dirs, roles):
    """[(data dir, screenshot, widget)] of every visible, labelled widget of --roles on the training
    screens of the sources' grounding examples, in the sources' order; widgets too large for a grid
    cell are left out, so that pasted widgets never overlap."""
    cw, ch = cell_size()
    out = []
    for data_dir in data_dirs:
        path = os.path.join(data_dir, "examples.jsonl")
        if not os.path.exists(path):
            sys.exit(f"make_collage.py: --data {data_dir}: no examples.jsonl in it (make_dataset.py's --out)")
        screens = {}
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                try:
                    e = json.loads(line)
                except json.JSONDecodeError as err:
                    sys.exit(f"make_collage.py: {path}:{line_no}: not JSON ({err.msg})")
                if e.get("split") == "train" and e.get("kind") == "grounding":
                    screens.setdefault(e["images"][0], None)
        for rel in screens:
            layout_path = os.path.join(data_dir, rel[:-len(".png")] + ".layout.json")
            if not os.path.exists(layout_path):
                sys.exit(f"make_collage.py: {os.path.join(data_dir, rel)}: no layout JSON beside it")
            with open(layout_path) as f:
                layout = json.load(f)
            for w in layout["widgets"]:
                fits = w["rect"][2] <= cw - 2 * MARGIN and w["rect"][3] <= ch - 2 * MARGIN
                if w.get("visible") and w["role"] in roles and w.get("label") and fits:
                    out.append((data_dir, rel, w))
    return out


def background(image):
    """The window's colour: the most common pixel of the screen's bottom-right 32 x 32 corner, which
    the sandbox leaves empty."""
    w, h = image.size
    corner = image.crop((w - 32, h - 32, w, h))
    return max(corner.getcolors(32 * 32), key=lambda c: c[0])[1]


def place(sizes, rng):
    """Screen rects [x, y, w, h] for widgets of these sizes (each fitting a cell), one per distinct
    grid cell, each at a random place inside its cell with MARGIN free around it."""
    cw, ch = cell_size()
    cells = rng.sample(range(GRID[0] * GRID[1]), len(sizes))
    rects = []
    for cell, (w, h) in zip(cells, sizes):
        x = (cell % GRID[0]) * cw + MARGIN + rng.randint(0, cw - w - 2 * MARGIN)
        y = (cell // GRID[0]) * ch + MARGIN + rng.randint(0, ch - h - 2 * MARGIN)
        rects.append([x, y, w, h])
    return rects


def by_label(pool):
    """{(role, label): [(data dir, screenshot, widget)]} of source_widgets' list."""
    out = {}
    for item in pool:
        out.setdefault((item[2]["role"], item[2]["label"]), []).append(item)
    return out


def plan_collage(by_key, min_count, max_count, rng):
    """What one collage shows: ([(data dir, screenshot, widget, rect on the collage)], the source
    screen whose background it takes). by_key: {(role, label): [(data dir, screenshot, widget)]}."""
    keys = sorted(by_key)
    count = min(len(keys), rng.randint(min_count, max_count))
    chosen = [rng.choice(by_key[k]) for k in rng.sample(keys, count)]
    base = rng.choice(chosen)
    rects = place([tuple(item[2]["rect"][2:]) for item in chosen], rng)
    return [(*item, rect) for item, rect in zip(chosen, rects)], base[:2]


def collage_layout(plan):
    """The layout JSON of a planned collage: its widgets where they were pasted, named role_i."""
    widgets = [{"label": w["label"], "name": f"{w['role']}_{i}", "rect": rect, "role": w["role"], "visible": True,
                "source": f"{rel} {w['name']}"} for i, (_, rel, w, rect) in enumerate(plan)]
    return {"collage": True, "scale": 1.0, "window": {"rect": [0, 0, *nc.SCREEN], "title": "collage"},
            "widgets": widgets}


def collage_examples(index, image, layout):
    """One grounding example per widget of a collage, as make_dataset.py writes them."""
    return [dict(make_dataset.grounding_example(index, w["name"], w, image), collage=True)
            for w in layout["widgets"]]


def paint_collage(plan, base, png):
    """The collage's pixels: each widget cut from its screen, pasted at its rect, on base's
    background colour (needs Pillow, as the rest of tools/train_nano)."""
    from PIL import Image
    screens = {}  # each source screen decoded once (base is one of the plan's)

    def screen(source):
        if source not in screens:
            with Image.open(os.path.join(*source)) as image:
                screens[source] = image.convert("RGB")
        return screens[source]

    canvas = Image.new("RGB", nc.SCREEN, background(screen(base)))
    for data_dir, rel, w, rect in plan:
        x, y, ww, wh = w["rect"]
        canvas.paste(screen((data_dir, rel)).crop((x, y, x + ww, y + wh)), tuple(rect[:2]))
    canvas.save(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="make_dataset.py's --out to cut from (several: comma-separated)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--collages", type=int, default=300)
    ap.add_argument("--roles", default="button", help="roles of the widgets cut (comma-separated)")
    ap.add_argument("--min-buttons", type=int, default=8)
    ap.add_argument("--max-buttons", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not 1 <= args.min_buttons <= args.max_buttons <= GRID[0] * GRID[1]:
        sys.exit(f"make_collage.py: --min-buttons {args.min_buttons} and --max-buttons {args.max_buttons}: "
                 f"need 1 <= min <= max <= {GRID[0] * GRID[1]}")
    roles = set(args.roles.split(","))
    pool = source_widgets(args.data.split(","), roles)
    by_key = by_label(pool)
    if len(by_key) < 2:
        sys.exit(f"make_collage.py: --data {args.data}: fewer than two distinct labels of --roles {args.roles}")
    os.makedirs(os.path.join(args.out, "screens"), exist_ok=True)
    rng = random.Random(args.seed)
    n = 0
    with open(os.path.join(args.out, "examples.jsonl"), "w", encoding="utf-8") as out:
        for index in range(args.collages):
            plan, base = plan_collage(by_key, args.min_buttons, args.max_buttons, rng)
            name = f"screens/c{index:05d}"
            layout = collage_layout(plan)
            with open(os.path.join(args.out, name + ".layout.json"), "w") as f:
                json.dump(layout, f)
            paint_collage(plan, base, os.path.join(args.out, name + ".png"))
            for e in collage_examples(index, name + ".png", layout):
                e["id"] = f"train-{n:06d}"
                e["split"] = "train"
                n += 1
                out.write(json.dumps(e, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}/examples.jsonl: {n} grounding examples on {args.collages} collages "
          f"({len(pool)} widgets to cut from)")


if __name__ == "__main__":
    main()
