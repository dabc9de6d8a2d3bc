#!/usr/bin/env python3
"""Teacher-forced progress of a training run, from its `log.jsonl`: the median of each measure over
windows of steps, so that runs of different lengths and resumes compare on the same footing.

A step logs only the measures its batch had (a task batch has no contrast accuracy, a grounding
batch no instruction copy), so each median is over the steps in the window that logged it, and a
window where none did shows '-'. Medians, not means: one odd batch (a resume, a screen with a
single target) moves a mean of twenty steps by several points.

    tools/train_nano/log_report.py work/jX/log.jsonl [--window 20] [--from 1] [--to N]
"""
import argparse
import json
import statistics
import sys

# (log key, column heading, format): the measures the README's run tables quote.
COLUMNS = [
    ("number_within_2", "within 2 px", "{:.1%}"),
    ("copy_acc", "copy path", "{:.1%}"),
    ("attend_acc", "attend", "{:.1%}"),
    ("contrast_acc", "contrast", "{:.2f}"),
    ("token_acc", "token", "{:.2f}"),
    ("lr", "lr", "{:.2e}"),
    ("seconds", "s/step", "{:.0f}"),
]


def read_log(path):
    """Each step's record, the last one written for a step winning (a resumed run logs again the
    steps after its last saved state)."""
    steps = {}
    with open(path) as log:
        for number, line in enumerate(log, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                sys.exit(f"{path}:{number}: not a JSON line ({error.msg})")
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                steps[record["step"]] = record
    return steps


def window_rows(steps, window, first, last):
    for start in range(first, last + 1, window):
        end = min(start + window - 1, last)
        records = [steps[s] for s in range(start, end + 1) if s in steps]
        if not records:
            continue
        cells = []
        for key, _, form in COLUMNS:
            values = [r[key] for r in records if isinstance(r.get(key), (int, float))]
            cells.append(form.format(statistics.median(values)) if values else "-")
        yield f"{start}–{end}", cells


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="a run's log.jsonl")
    parser.add_argument("--window", type=int, default=20, help="steps per row (default 20)")
    parser.add_argument("--from", dest="first", type=int, help="first step (default: the log's)")
    parser.add_argument("--to", dest="last", type=int, help="last step (default: the log's)")
    a = parser.parse_args()
    if a.window < 1:
        sys.exit(f"--window {a.window}: must be at least 1")
    try:
        steps = read_log(a.log)
    except OSError as error:
        sys.exit(f"{a.log}: {error.strerror}")
    if not steps:
        sys.exit(f"{a.log}: no step records")
    first = a.first if a.first is not None else min(steps)
    last = a.last if a.last is not None else max(steps)
    if first > last:
        sys.exit(f"--from {first} --to {last}: empty range")
    print("| steps | " + " | ".join(heading for _, heading, _ in COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for label, cells in window_rows(steps, a.window, first, last):
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
