#!/usr/bin/env python3
"""Why a state grounds or not, teacher-forced on validation grounding rows: for each coordinate the
answer writes (a number token; a digit with a digit tokenizer), whether the fetching head of the
--attend-aux layers (head 0, or --heads as train.py's --attend-split) attends to the image token under the answer's point, and whether the number comes out within
2 px when it does and when it does not.

    tools/train_nano/attention_report.py work/nano/state.pt --data data/nano --screens 12

Reading it: attention on target but coordinates wrong means the tokens do not carry their position in a
form the heads copy (--position-aux); attention off target means locating is the problem. The second
table splits the same by the target's role (from the layout beside the screenshot), with the median
|error| of the number in pixels of the model's image (a button is 35-55 px wide there).
Slots count the answer's number tokens in order: x then y (with a digit tokenizer, x's digits
then y's, 1 to 3 each, so slot 3 is y's first digit only when x has three).
"""
import argparse
import collections
import math
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as nano_model  # noqa: E402
import nano_common as nc  # noqa: E402
import train  # noqa: E402


def role_of(example):
    """The role of the example's target widget, from the layout JSON beside its screenshot."""
    return (train.layout_roles(example["images"][0]) or {}).get(example.get("widget"), "?")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state", help="a state.pt written by train.py")
    ap.add_argument("--data", required=True, help="make_dataset.py's --out (several: comma-separated)")
    ap.add_argument("--tokenizer", default=os.path.join(nc.ROOT, "tests/data/engine/nano_tokenizer/tokenizer.json"))
    ap.add_argument("--layers", default="2,3")
    ap.add_argument("--heads", default="0,0", metavar="X,Y",
                    help="the query heads that fetch x and y (train.py --attend-split; 0,0: head 0 for both)")
    ap.add_argument("--screens", type=int, default=12, help="validation screens (up to 8 rows each)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(a.tokenizer)
    data = train.Examples(a.data.split(","), tok, "val", ("grounding",))
    if not len(data):
        sys.exit(f"attention_report.py: no validation grounding examples in {a.data}")
    model = nano_model.build_model(nano_model.build_config(tok), 0)
    state = nano_model.load_state(model, a.state, "attention_report.py")
    data.screenshot_first = state.get("screenshot_first", False)  # asked as the state was trained
    layers = [int(x) for x in a.layers.split(",")]
    numbers = train.Numbers(tok)
    multi = numbers.multi_digit()
    heads = tuple(int(x) for x in a.heads.split(","))
    attend = train.AttendLoss(model, layers, numbers.ids, heads)
    slots = collections.defaultdict(lambda: [0, 0, 0, 0])  # on target, right | on, off target, right | off
    errors = collections.defaultdict(lambda: ([], []))  # (role, slot): |error| when on, when off target
    rows = 0
    with torch.no_grad():
        for unit in data.units(8)[:a.screens]:
            batch = data.batch(unit)
            n = batch["input_ids"].shape[0]
            enc = model.model.get_image_features(batch["pixel_values"], batch["image_grid_thw"], return_dict=True)
            enc.pooler_output = tuple(enc.pooler_output) * n
            enc.deepstack_features = [tuple(f) * n for f in enc.deepstack_features]
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        mm_token_type_ids=batch["mm_token_type_ids"], mm_encoder_outputs={"image": enc},
                        image_grid_thw=batch["image_grid_thw"].repeat(n, 1))
            predicted = out.logits.argmax(-1)
            image = batch["mm_token_type_ids"].bool()
            for r, cell in enumerate(batch["cells"]):
                labels = batch["labels"][r, 1:]
                role = role_of(data.items[unit[r]])
                rows += 1
                for k, p in enumerate(torch.isin(labels, numbers.ids).nonzero()[:, 0].tolist()):
                    head = heads[k % 2] if multi else heads[0]
                    on = all(attend.weights[layer][r, head, p][image[r]].argmax().item() == cell for layer in layers)
                    got, want = numbers.value_of[predicted[r, p]].item(), numbers.value_of[labels[p]].item()
                    right = got >= 0 and abs(got - want) <= (2 if numbers.multi_digit() else 0)
                    s = slots[k]
                    s[0 if on else 2] += 1
                    s[1 if on else 3] += right
                    errors[(role, k)][0 if on else 1].append(abs(got - want) if got >= 0 else math.inf)
    print(f"step {state['step']}: {rows} validation rows, heads {a.heads} (x, y) of layers {a.layers}")
    for k in sorted(slots):
        on, on_right, off, off_right = slots[k]
        print(f"slot {k}: attention on target {on}/{on + off}; "
              f"right when on {on_right}/{on}, when off {off_right}/{off}")
    print("role, slot: attention on target; median |error| (px) when on, when off target")

    def median(v):
        return f"{statistics.median(v):g}" if v else "-"
    for (role, k), (on, off) in sorted(errors.items()):
        print(f"{role:>10} {k}: {len(on)}/{len(on) + len(off)}; {median(on)}, {median(off)}")


if __name__ == "__main__":
    main()
