#!/usr/bin/env python3
"""Can a checkpoint ground on second-look views at all? Every grounding target of a `deskpilot eval
grounding` run asked again through transformers on the second look's view (nano_common.zoom_image:
the quarter of the screen, doubled) centred near the target's own centre (a seeded Gaussian offset
of --spread screen pixels, as make_zoom.py trains), the answer mapped back and hit-tested: the
second look's accuracy when the first look has landed well, by role, next to the run's own
(first-look) accuracy. Also how often the answer is the one the model gives on the whole screen
(the same numbers: it answers from where widgets usually sit, not from what the view shows).

    python3 tools/train_nano/zoom_report.py --model-dir work/z1/model --grounding z1-g0.json
"""
import argparse
import collections
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402
from score_parity import Transformers, contains, grounding_messages, screen_point  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--grounding", required=True, help="the -o JSON of `deskpilot eval grounding`")
    ap.add_argument("--spread", type=float, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N seeds (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not os.path.exists(a.grounding):
        sys.exit(f"zoom_report: {a.grounding}: no such file")
    report = json.load(open(a.grounding, encoding="utf-8"))
    try:
        out_dir = nc.eval_out_dir(a.grounding, report)
    except ValueError as e:
        sys.exit(f"zoom_report: {e}")
    torch.set_num_threads(a.threads)
    tf = Transformers(a.model_dir, 32)
    rng = random.Random(a.seed)
    count = collections.Counter()
    for item in report["items"][:a.limit or None]:
        screenshot = os.path.join(out_dir, item["screenshot"])
        for t in item["targets"]:
            x, y, w, h = t["rect"]
            centre = [c + max(-3 * a.spread, min(3 * a.spread, rng.gauss(0, a.spread)))
                      for c in (x + w / 2, y + h / 2)]
            origin = nc.zoom_origin(*centre)
            answer, _ = tf.ask(grounding_messages(t["instruction"]), [(screenshot, origin)])
            point = screen_point(answer)
            hit = contains(t["rect"], None if point is None else nc.zoom_to_screen(point, origin))
            first = t.get("first_hit", t["hit"])
            for key in ("all", t["role"]):
                count[(key, "targets")] += 1
                count[(key, "first")] += first
                count[(key, "zoomed")] += hit
                count[(key, "same numbers")] += point is not None and answer == t["response"]
    print("| role | targets | first look (the run) | second look, centred near the target | "
          "answers as on the whole screen |")
    print("|---|---:|---:|---:|---:|")
    for key in sorted({k for k, _ in count if k != "all"}) + ["all"]:
        n = count[(key, "targets")]
        print(f"| {key} | {n} | {count[(key, 'first')] / n:.1%} | {count[(key, 'zoomed')] / n:.1%} | "
              f"{count[(key, 'same numbers')] / n:.1%} |")


if __name__ == "__main__":
    main()
