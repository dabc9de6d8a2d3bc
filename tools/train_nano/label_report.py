#!/usr/bin/env python3
"""Does the vision tower read the labels? For validation screens with a layout: for each role with
two or more labelled widgets on a screen, whether the image token at each widget's centre (the
tower's output, what the decoder receives) scores its own label's mean input embedding higher than
the labels of the other widgets of that role (dot product). Chance is 1 / widgets of the role.

    tools/train_nano/label_report.py work/nano/state.pt --data data/nano --screens 40
"""
import argparse
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import nano_common as nc  # noqa: E402
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", help="a state.pt written by train.py")
    ap.add_argument("--data", required=True, help="make_dataset.py's --out (several: comma-separated)")
    ap.add_argument("--tokenizer", default=os.path.join(nc.ROOT, "tests/data/engine/nano_tokenizer/tokenizer.json"))
    ap.add_argument("--screens", type=int, default=40)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.tokenizer)
    data = train.Examples(a.data.split(","), tok, "val", ("grounding",))
    screens = data.screens()[:a.screens]
    if not screens:
        sys.exit(f"label_report.py: no validation screenshot with a layout in {a.data}")
    model = nano_model.build_model(nano_model.build_config(tok), 0)
    state = nano_model.load_state(model, a.state, "label_report.py")
    words = train.embeddings(model).float()
    (w, h), cell = data.image_size, 32
    sx, sy, cols = w / nc.SCREEN[0], h / nc.SCREEN[1], w // cell
    right, total, chance = collections.Counter(), collections.Counter(), collections.Counter()
    with torch.no_grad():
        for image in screens:
            with open(image[:-len(".png")] + ".layout.json") as f:
                layout = json.load(f)
            tokens = model.model.get_image_features(*data.pixels(image), return_dict=True).pooler_output[0].float()
            by_role = collections.defaultdict(list)
            for widget in layout["widgets"]:
                if widget.get("visible") and widget["role"] in train.LABELLED_ROLES and widget.get("label"):
                    by_role[widget["role"]].append(widget)
            for role, widgets in by_role.items():
                if len(widgets) < 2:
                    continue
                centres = [int((y + wh / 2) * sy // cell) * cols + int((x + ww / 2) * sx // cell)
                           for x, y, ww, wh in (wd["rect"] for wd in widgets)]
                labels = torch.stack([words[tok.encode(wd["label"]).ids].mean(0) for wd in widgets])
                scores = tokens[centres] @ labels.t()
                right[role] += int((scores.argmax(1) == torch.arange(len(widgets))).sum())
                total[role] += len(widgets)
                chance[role] += 1
    print(f"step {state['step']}: {len(screens)} validation screens")
    for role in sorted(total):
        print(f"{role}: own label first for {right[role]}/{total[role]} widgets "
              f"(chance {chance[role]}/{total[role]})")


if __name__ == "__main__":
    main()
