#!/usr/bin/env python3
"""Parse throughput: Deskpilot's planner against the official UI-TARS Python parser, in one run.

    pip install -r tools/golden/requirements.txt        # PyPI ui-tars, the baseline
    cmake --build build --target bench_planner_parse
    python3 bench/planner_parse_vs_python.py [--binary build/bench/bench_planner_parse]

Both parse the same 1000 responses (tools/golden/planner_responses.py, in the form the official
parser accepts) for UI-TARS-1.5 on a 1920x1080 screen. The official parser is timed on
parse_action_to_structure_output alone (no pixel conversion), Deskpilot on the full
parse_step including the mapping to screen pixels. Prints both rates and their ratio.
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "golden"))

from planner_responses import responses  # noqa: E402
from ui_tars.action_parser import parse_action_to_structure_output  # noqa: E402


def thousand():
    out, seed = [], 0
    while len(out) < 1000:
        for text, canonical in responses(seed):
            out.append(canonical if canonical is not None else text)
        seed += 1
    return out[:1000]


def official_rate(texts, repeats=3):
    sink = io.StringIO()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()  # CPU time, like the C++ side: the machine may be shared
        with contextlib.redirect_stdout(sink):
            for t in texts:
                parse_action_to_structure_output(t, 1000, 1080, 1920, model_type="qwen25vl")
        best = min(best, time.process_time() - start)
    return len(texts) / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "bench", "bench_planner_parse"))
    args = ap.parse_args()
    texts = thousand()
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
        path = f.name
    try:
        py = official_rate(texts)
        out = subprocess.run([args.binary, path, "ui-tars-1.5", "1920x1080"], check=True, capture_output=True,
                             text=True).stdout
        ours = json.loads(out)
    finally:
        os.unlink(path)
    if ours["failures_per_pass"]:
        sys.exit(f"Deskpilot rejected {ours['failures_per_pass']} responses the official parser accepted")
    print(f"responses: {len(texts)} (UI-TARS-1.5, 1920x1080)")
    print(f"official Python parser (ui-tars): {py:12.0f} responses/s (CPU time)")
    print(f"Deskpilot planner::parse_step:    {ours['responses_per_second']:12.0f} responses/s")
    print(f"ratio: {ours['responses_per_second'] / py:.0f}x")


if __name__ == "__main__":
    main()
