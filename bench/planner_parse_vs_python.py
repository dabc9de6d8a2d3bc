#!/usr/bin/env python3
"""Parse throughput: Deskpilot's planner against the official UI-TARS Python parser, in one run.

    pip install -r tools/golden/requirements.txt        # PyPI ui-tars, the baseline
    cmake --build build --target bench_planner_parse
    python3 bench/planner_parse_vs_python.py [--binary build/bench/bench_planner_parse] [--runs 5]

Both parse the same 1000 responses (tools/golden/planner_responses.py, in the form the official
parser accepts) for UI-TARS-1.5 on a 1920x1080 screen. Deskpilot is timed on the full parse
(grammar, Step with its strings, coordinates mapped to screen pixels) two ways, in alternating
batches of the same process:

  fresh   planner::parse_step, a new Step per response, built and destroyed each time
          (the headline: what a caller that keeps each Step gets);
  reused  planner::parse_step_into, one Step kept across the 1000 responses, its strings and
          action list reused (what a caller parsing many responses in a loop gets).

The official parser is timed two ways:

  parse   parse_action_to_structure_output alone: its grammar and its coordinate conversion to
          screen-relative floats (box / smart-resized size). This is the headline ratio: the
          baseline does no more work than Deskpilot, slightly less.
  pixels  the same plus the last step to integer pixels, done as cheaply as Python allows
          (json.loads of the box list, centre, round(x * W)); the official path to pixels
          (parsing_response_to_pyautogui_code) eval()s each box and writes pyautogui code, which
          would make the baseline slower, so it is not used.

Runs alternate Python and C++ so both see the same machine load; CPU time (not wall time) on
both sides, each side's fastest pass within a run (Python: best of 3 passes over the 1000;
C++: best of 5 batches of at least 0.2 s). Prints each run and the medians over runs.
"""
import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "golden"))

from planner_responses import responses  # noqa: E402
from ui_tars.action_parser import parse_action_to_structure_output  # noqa: E402

WIDTH, HEIGHT = 1920, 1080


def thousand():
    out, seed = [], 0
    while len(out) < 1000:
        for text, canonical in responses(seed):
            out.append(canonical if canonical is not None else text)
        seed += 1
    return out[:1000]


def official_parse(text):
    return parse_action_to_structure_output(text, 1000, HEIGHT, WIDTH, model_type="qwen25vl")


def official_pixels(text):
    actions = official_parse(text)
    for action in actions:
        inputs = action["action_inputs"]
        for key in ("start_box", "end_box"):
            if key in inputs:
                x1, y1, x2, y2 = json.loads(inputs[key])
                inputs[key] = (round((x1 + x2) / 2 * WIDTH), round((y1 + y2) / 2 * HEIGHT))
    return actions


def python_rate(fn, texts, repeats=3):
    """Best of `repeats` passes, responses per CPU second."""
    sink = io.StringIO()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        with contextlib.redirect_stdout(sink):  # the official parser prints on some inputs
            for t in texts:
                fn(t)
        best = min(best, time.process_time() - start)
    return len(texts) / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "bench", "bench_planner_parse"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    texts = thousand()
    for t in texts:
        official_pixels(t)  # every response must parse officially (raises otherwise)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
        path = f.name
    rows = []
    try:
        for run in range(args.runs):
            parse = python_rate(official_parse, texts)
            pixels = python_rate(official_pixels, texts)
            out = subprocess.run([args.binary, path, "ui-tars-1.5", f"{WIDTH}x{HEIGHT}"], check=True,
                                 capture_output=True, text=True).stdout
            ours = json.loads(out)
            if ours["failures_per_pass"]:
                sys.exit(f"Deskpilot rejected {ours['failures_per_pass']} responses the official parser accepted")
            fresh, reused = ours["responses_per_second"], ours["reused_responses_per_second"]
            rows.append((parse, pixels, fresh, reused))
            print(f"run {run + 1}: official parse {parse:9.0f}/s, official parse+pixels {pixels:9.0f}/s, "
                  f"Deskpilot fresh {fresh:11.0f}/s -> {fresh / parse:.0f}x / {fresh / pixels:.0f}x, "
                  f"reused {reused:11.0f}/s -> {reused / parse:.0f}x / {reused / pixels:.0f}x")
    finally:
        os.unlink(path)
    parse = statistics.median(r[0] for r in rows)
    pixels = statistics.median(r[1] for r in rows)
    ours = statistics.median(r[2] for r in rows)
    ours_reused = statistics.median(r[3] for r in rows)
    ratio = statistics.median(r[2] / r[0] for r in rows)
    ratio_pixels = statistics.median(r[2] / r[1] for r in rows)
    ratio_reused = statistics.median(r[3] / r[0] for r in rows)
    ratio_reused_pixels = statistics.median(r[3] / r[1] for r in rows)
    print(f"responses: {len(texts)} (UI-TARS-1.5, {WIDTH}x{HEIGHT}), {len(rows)} runs, medians:")
    print(f"  official parser, parse_action_to_structure_output: {parse:12.0f} responses/s (CPU time)")
    print(f"  official parser + conversion to pixels:            {pixels:12.0f} responses/s")
    print(f"  Deskpilot planner::parse_step (to pixels):         {ours:12.0f} responses/s (fresh Step)")
    print(f"  Deskpilot planner::parse_step_into, reused Step:   {ours_reused:12.0f} responses/s")
    print(f"ratio vs the official parser (headline, fresh Step): {ratio:.0f}x")
    print(f"ratio vs official parse + pixels (fresh Step):       {ratio_pixels:.0f}x")
    print(f"ratio vs the official parser (reused Step):          {ratio_reused:.0f}x")
    print(f"ratio vs official parse + pixels (reused Step):      {ratio_reused_pixels:.0f}x")


if __name__ == "__main__":
    main()
