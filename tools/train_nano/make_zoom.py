#!/usr/bin/env python3
"""Second-look examples: a made data set (make_dataset.py's) plus the same answers asked again on
a zoomed view around the target, as the agent's second look (`--second-look`) asks them.

The second look: the model answers on the whole 1280x800 screen (seen as 640x384, one 32 px image
token per 64x64 screen pixels); then the 640x400 screen pixels around its point, shown twice as
large (each pixel doubled, so again a 1280x800 image, seen at 640x384: one token per 32x32 screen
pixels), are asked the same prompt, and the answer there, mapped back, is the point. What the
zoom shows is given by `nano_common.zoom_origin` and `zoom_image`, shared with the engine's twin
(agent/second_look.cpp), so that training, transformers and the engine see the same pixels.

Per screen with grounding examples, up to --crops zoomed views, each centred near one target (a
Gaussian offset of --spread screen pixels: where a first look lands), asking every grounding
target wholly inside it; per task step that clicks one point, one zoomed view around it. The
zoomed screens are written under OUT/zooms with their layouts (rects moved and doubled), so the
auxiliary losses of train.py read them as any screen. OUT/screens links to the source's screens;
OUT/examples.jsonl has the source's examples first, then the zoomed ones (kind unchanged, with
"zoom": [x0, y0]).

    python3 tools/train_nano/make_zoom.py --data data-n14 --out data-z14 --seed 7
"""
import argparse
import json
import os
import random
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402

POINT = re.compile(r"\((\d+),(\d+)\)")
ONE_POINT_ACTIONS = ("click(", "left_double(", "right_single(")


def model_to_screen(point):
    """A point of the 640x384 image the model writes -> the screen pixel it stands for (centre)."""
    w, h = nc.smart_resize(*nc.SCREEN)
    return point[0] * nc.SCREEN[0] / w, point[1] * nc.SCREEN[1] / h


def zoomed_layout(layout, origin):
    """The layout of a zoomed view: rects moved by the origin and doubled; a widget wholly outside
    it is not visible."""
    x0, y0 = origin
    cw, ch = nc.ZOOM_CROP
    widgets = []
    for w in layout["widgets"]:
        x, y, ww, wh = w["rect"]
        inside = x < x0 + cw and y < y0 + ch and x + ww > x0 and y + wh > y0
        widgets.append(dict(w, rect=[(x - x0) * 2, (y - y0) * 2, ww * 2, wh * 2],
                            visible=bool(w.get("visible")) and inside))
    return dict(layout, widgets=widgets, zoom=list(origin))


def wholly_inside(rect, origin, margin=4):
    x, y, w, h = rect
    return (x >= origin[0] + margin and y >= origin[1] + margin and x + w <= origin[0] + nc.ZOOM_CROP[0] - margin
            and y + h <= origin[1] + nc.ZOOM_CROP[1] - margin)


def rewrite_point(target, origin):
    """The answer with its one point moved into the zoomed view's model image."""
    sx, sy = model_to_screen(tuple(int(v) for v in POINT.search(target).groups()))
    zx, zy = nc.to_model_point((sx - origin[0]) * 2, (sy - origin[1]) * 2)
    return POINT.sub(f"({zx},{zy})", target, count=1)


class Writer:
    def __init__(self, data, out):
        self.data, self.out = data, out
        self.layouts = {}
        os.makedirs(os.path.join(out, "zooms"), exist_ok=True)
        self.count = 0

    def layout(self, rel):
        if rel not in self.layouts:
            path = os.path.join(self.data, rel[:-len(".png")] + ".layout.json")
            self.layouts[rel] = json.load(open(path)) if os.path.exists(path) else None
        return self.layouts[rel]

    def zoom(self, rel, origin):
        """Writes the zoomed view of a screen at an origin; its path relative to OUT."""
        from PIL import Image
        name = f"zooms/{os.path.basename(rel)[:-4]}_z{origin[0]}_{origin[1]}.png"
        path = os.path.join(self.out, name)
        if not os.path.exists(path):
            screen = np.asarray(Image.open(os.path.join(self.data, rel)).convert("RGB"))
            Image.fromarray(nc.zoom_image(screen, origin)).save(path)
            layout = self.layout(rel)
            if layout is not None:
                with open(path[:-4] + ".layout.json", "w") as f:
                    json.dump(zoomed_layout(layout, origin), f)
            self.count += 1
        return name


def centre_near(point, rng, spread):
    """Where a first look lands near a point: a Gaussian offset, at most 3 spreads."""
    return [point[i] + max(-3 * spread, min(3 * spread, rng.gauss(0, spread))) for i in (0, 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a make_dataset.py output folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crops", type=int, default=2, help="zoomed views per screen with grounding examples")
    ap.add_argument("--spread", type=float, default=24, help="screen px: the first look's error, one s.d.")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    source = os.path.join(args.data, "examples.jsonl")
    if not os.path.exists(source):
        sys.exit(f"make_zoom: {source}: no such file (is --data a make_dataset.py folder?)")
    examples = [json.loads(line) for line in open(source)]
    os.makedirs(args.out, exist_ok=True)
    link = os.path.join(args.out, "screens")
    if not os.path.exists(link):
        os.symlink(os.path.relpath(os.path.join(args.data, "screens"), args.out), link)
    writer = Writer(args.data, args.out)
    zoomed = []
    by_screen = {}
    for e in examples:
        if e["split"] == "train" and e["kind"] == "grounding":
            by_screen.setdefault(e["images"][0], []).append(e)
    for rel, group in by_screen.items():
        layout = writer.layout(rel)
        if layout is None:
            sys.exit(f"make_zoom: {rel}: no layout beside it (run add_layouts.py on {args.data})")
        rects = {w["name"]: w["rect"] for w in layout["widgets"]}
        for _ in range(args.crops):
            aim = rng.choice(group)
            x, y, w, h = rects[aim["widget"]]
            origin = nc.zoom_origin(*centre_near((x + w / 2, y + h / 2), rng, args.spread))
            asked = [e for e in group if wholly_inside(rects[e["widget"]], origin)]
            if not asked:
                continue
            name = writer.zoom(rel, origin)
            for e in asked:
                zoomed.append(dict(e, id=f"{e['id']}-z{origin[0]}_{origin[1]}", images=[name], zoom=origin,
                                   target=rewrite_point(e["target"], origin)))
    for e in examples:
        if e["split"] != "train" or e["kind"] != "task":
            continue
        action = e["target"].split("Action: ", 1)[-1]
        if not action.startswith(ONE_POINT_ACTIONS) or len(POINT.findall(action)) != 1:
            continue
        sx, sy = model_to_screen(tuple(int(v) for v in POINT.search(action).groups()))
        origin = nc.zoom_origin(*centre_near((sx, sy), rng, args.spread))
        name = writer.zoom(e["images"][-1], origin)
        zoomed.append(dict(e, id=f"{e['id']}-z", images=e["images"][:-1] + [name], zoom=origin,
                           target=rewrite_point(e["target"], origin)))
    with open(os.path.join(args.out, "examples.jsonl"), "w") as f:
        for e in examples + zoomed:
            f.write(json.dumps(e) + "\n")
    kinds = {}
    for e in zoomed:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    print(f"make_zoom: {len(examples)} examples of {args.data}, {len(zoomed)} zoomed ({kinds}) "
          f"on {writer.count} zoomed views -> {args.out}")


if __name__ == "__main__":
    main()
