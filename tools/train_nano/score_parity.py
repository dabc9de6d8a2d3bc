#!/usr/bin/env python3
"""The issue's parity at the level of scores: do transformers and Deskpilot's engine give the same
`deskpilot eval` numbers on a deskpilot-nano checkpoint?

`deskpilot eval` keeps what the engine saw and wrote: each grounding seed's screenshot and each
target's response, and each task's session (its screenshots and every step's raw response). This
asks transformers' Qwen3VLMoeForConditionalGeneration (f32, eager attention, greedy, with the
coordinate readout's twin, nano_common.CoordinateReadoutProcessor, at the checkpoint's window or
--coordinate-window's, as the engine reads coordinates; with the action grammar's twin,
action_grammar.ActionGrammarProcessor, when the eval's engine ran with it, as its report's
"engine" says) the same prompts on the same screenshots:

- grounding: every target's prompt; the answer is mapped to the screen as the family maps it
  (planner/family.h: round half to even of x·W/W') and hit-tested against the target's rect as
  agent/eval/grounding.cpp does, giving transformers' own accuracy next to the engine's;
- with `--second-look` runs, each click's second look too (nano_common.zoom_origin, zoom_image:
  the twins of agent/second_look.cpp), around transformers' own first point for grounding and
  around the engine's for a task step (teacher-forced), the two answers compared as one;
- tasks (teacher-forced): every step's conversation rebuilt as planner::Conversation builds it
  (the computer prompt, the last 5 screenshots, the earlier answers, the agent's correction turn
  after an answer it could not use), checked against the prompt token count the session
  recorded, and transformers' answer compared with the engine's. When every step of a task
  matches, transformers would have driven the sandbox through the same screens to the same end,
  so the task's outcome is the same for both.

    tools/train_nano/score_parity.py --model-dir models/deskpilot-nano \\
        --grounding g.json --tasks t.json    # the -o files of `deskpilot eval grounding|tasks`

Prints a summary (and --out JSON with every differing answer); exits 1 when an answer differs
(more than --allow differing answers), or when a rebuilt prompt's length differs from the
session's (the comparison would be meaningless).
"""
import argparse
import collections
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import action_grammar  # noqa: E402
import nano_common as nc  # noqa: E402

CLICK = re.compile(r"\((\d+),\s*(\d+)\)")


class Transformers:
    def __init__(self, model_dir, max_new_tokens, coordinate_window=None, grammar=False):
        from tokenizers import Tokenizer
        from transformers import Qwen3VLMoeForConditionalGeneration

        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.model = Qwen3VLMoeForConditionalGeneration.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="eager").eval()
        self.proc = nc.image_processor()
        # Asked as it was trained: a checkpoint of train.py --screenshot-first, screenshot first
        # (the engine's Conversation does the same from the same deskpilot.json).
        self.screenshot_first = nc.trained_screenshot_first(model_dir)
        self.stops = [self.tok.token_to_id("<|im_end|>"), self.tok.token_to_id("<|endoftext|>")]
        self.max_new_tokens = max_new_tokens
        # The engine's coordinate readout: the window the checkpoint names, unless told otherwise.
        window = nc.coordinate_window(model_dir) if coordinate_window is None else coordinate_window
        self.readout = nc.CoordinateReadoutProcessor(self.tok, window)
        # The engine's action grammar (masks first; the readout then reads the masked logits).
        self.grammar = None
        if grammar:
            self.grammar = action_grammar.ActionGrammar(
                *action_grammar.token_table(os.path.join(model_dir, "tokenizer.json")))
            # As deskpilot eval's engine: hotkeys held to the actuators' key names.
            self.grammar.limit_key_names(action_grammar.actuator_key_names())
        self._pixels = {}
        self._sizes = {}  # each screenshot's size (the grammar's coordinate limits)

    def pixels(self, path):
        """The processor's input for one screenshot (kept: a grounding seed asks several targets).
        `path` may name a second look: (screenshot path, region origin)."""
        if path not in self._pixels:
            import numpy as np
            from PIL import Image
            file = path[0] if isinstance(path, tuple) else path
            if not os.path.exists(file):
                sys.exit(f"score_parity: screenshot {file} is missing (was the eval's out_dir kept?)")
            if len(self._pixels) >= 8:
                self._pixels.clear()
            image = Image.open(file).convert("RGB")
            if isinstance(path, tuple):
                image = Image.fromarray(nc.zoom_image(np.asarray(image), path[1]))
            r = self.proc(images=[image], return_tensors="pt")
            self._pixels[path] = (r["pixel_values"], r["image_grid_thw"])
            self._sizes[path] = image.size
        return self._pixels[path]

    def chat(self, messages, image_tokens):
        """The chat text of `messages` in the layout this checkpoint was trained on (nc.in_layout):
        every script that asks it goes through here, so none asks a screenshot-first checkpoint
        prompt first."""
        return nc.render_chat(nc.in_layout(messages, self.screenshot_first), image_tokens)

    def processors(self, prompt_length):
        held = [action_grammar.ActionGrammarProcessor(self.grammar, prompt_length)] if self.grammar else []
        return held + [self.readout]

    def ask(self, messages, screenshots):
        """Greedy answer (special tokens skipped, as NativeVlm streams it) and the prompt length."""
        inputs = [self.pixels(p) for p in screenshots]
        counts = [int(grid.prod()) // 4 for _, grid in inputs]
        if self.grammar:  # as NativeVlm: the answer's points must land on the last screenshot
            self.grammar.limit_coordinates(*nc.coordinate_limits(self._sizes[screenshots[-1]]))
        ids = torch.tensor([self.tok.encode(self.chat(messages, counts)).ids])
        mm = (ids == self.model.config.image_token_id).int()
        self.model.model.rope_deltas = None
        with torch.no_grad():
            g = self.model.generate(input_ids=ids, pixel_values=torch.cat([pv for pv, _ in inputs]),
                                    image_grid_thw=torch.cat([grid for _, grid in inputs]), mm_token_type_ids=mm,
                                    attention_mask=torch.ones_like(ids), max_new_tokens=self.max_new_tokens,
                                    do_sample=False, eos_token_id=self.stops, pad_token_id=self.stops[1],
                                    logits_processor=self.processors(int(ids.shape[1])))
        new = g[0, ids.shape[1]:].tolist()
        if new and new[-1] in self.stops:
            new = new[:-1]
        return self.tok.decode(new, skip_special_tokens=True), int(ids.shape[1])


def screen_point(response, screen=nc.SCREEN):
    """The click's screen pixel as the family deskpilot-nano maps it, or None without a click."""
    m = CLICK.search(response)
    if not m:
        return None
    return nc.to_screen_point(int(m.group(1)), int(m.group(2)), screen)


def contains(rect, p):
    x, y, w, h = rect  # vision::Rect::contains: half-open
    return p is not None and x <= p[0] < x + w and y <= p[1] < y + h


def load_report(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def grounding_messages(instruction):
    """The grounding conversation the agent sends for one target, with its one screenshot."""
    return [{"role": "system", "parts": [nc.SYSTEM_MESSAGE]},
            {"role": "user", "parts": [nc.render_prompt("grounding", instruction), {"image": 0}]}]


def second_look(tf, messages, screenshots, first_point):
    """The second look (agent/second_look.cpp) around a first point: (answer, screen point)."""
    origin = nc.zoom_origin(*first_point)
    answer, _ = tf.ask(messages, screenshots[:-1] + [(screenshots[-1], origin)])
    point = screen_point(answer)  # the second look's image has the screen's size
    return answer, None if point is None else nc.zoom_to_screen(point, origin)


def grounding(tf, report_path, limit):
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    root = report["out_dir"]
    hits = collections.Counter()
    totals = collections.Counter()
    differ = []
    asked = 0
    for item in report["items"][:limit or None]:
        screenshot = os.path.join(root, item["screenshot"])
        for t in item["targets"]:
            asked += 1
            messages = grounding_messages(t["instruction"])
            answer, _ = tf.ask(messages, [screenshot])
            point = screen_point(answer)
            if "second_look" in t:  # the engine's run had --second-look: so does this one
                engine = t["response"] + " | second look: " + t["second_look"]["response"]
                t = dict(t, response=engine)
                if point is not None:
                    second_answer, second = second_look(tf, messages, [screenshot], point)
                    answer += " | second look: " + second_answer
                    point = second or point
            hit = contains(t["rect"], point)
            if hit != t["hit"] and answer == t["response"]:
                sys.exit(f"score_parity: seed {item['seed']} {t['widget']}: the same answer {answer!r} scores "
                         f"differently here ({hit}) than in {report_path} ({t['hit']}); the mapping here is wrong")
            for key in ("all", t["role"]):
                totals[key] += 1
                hits[("engine", key)] += t["hit"]
                hits[("transformers", key)] += hit
            if answer != t["response"]:
                differ.append({"seed": item["seed"], "widget": t["widget"], "engine": t["response"],
                               "transformers": answer, "engine_hit": t["hit"], "transformers_hit": hit})
                print(f"score_parity: grounding seed {item['seed']} {t['widget']}: engine {t['response']!r} "
                      f"transformers {answer!r}", file=sys.stderr)
    roles = sorted(k for k in totals if k != "all") + ["all"]
    return {"targets": asked, "differing_answers": len(differ), "differ": differ,
            "accuracy": {r: {"engine": hits[("engine", r)] / totals[r],
                             "transformers": hits[("transformers", r)] / totals[r], "targets": totals[r]}
                         for r in roles}}


def correction(step):
    """The turn the agent adds after an answer it could not use (agent_loop.cpp model_mistake),
    from the step's recorded "error: ..." result; None when the step had none."""
    errors = [r[len("error: "):] for r in step.get("results", []) if r.startswith("error: ")]
    if not errors:
        return None
    return ("Your previous answer could not be used: " + errors[0]
            + "\nAnswer again in the required format: Thought: ... then Action: ...")


def read_steps(session_dir):
    with open(os.path.join(session_dir, "steps.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tasks(tf, report_path, limit, only=()):
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    root = report["out_dir"]
    rows, differ, length_mismatch = [], [], []
    asked = 0
    items = [item for item in report["items"] if not only or item["task"] in only]
    if only and not items:
        sys.exit(f"score_parity: {report_path} has no task {', '.join(only)}")
    for item in items[:limit or None]:
        session = os.path.join(root, item["session"])
        steps = read_steps(session)
        prompt = nc.render_prompt("computer", item["text"])
        screenshots, answers, feedback = [], [], []
        first_difference = None
        for k, step in enumerate(steps):
            asked += 1
            screenshots.append(os.path.join(session, step["screenshot"]))
            answer, prompt_tokens = tf.ask(*nc.task_messages(prompt, screenshots, answers, feedback))
            recorded = step.get("tokens", {}).get("prompt")
            if recorded is not None and recorded != prompt_tokens:
                length_mismatch.append({"task": item["task"], "step": k + 1, "session": recorded,
                                        "rebuilt": prompt_tokens})
            engine = step["raw_response"]
            look = step.get("second_look")
            if look and answer == engine:  # teacher-forced: around the engine's first point
                second_answer, _ = second_look(tf, *nc.task_messages(prompt, screenshots, answers, feedback),
                                               look["first_point"])
                answer += " | second look: " + second_answer
                engine += " | second look: " + look["response"]
            if answer != engine and first_difference is None:
                first_difference = k + 1
                differ.append({"task": item["task"], "step": k + 1, "engine": engine, "transformers": answer})
                print(f"score_parity: task {item['task']} step {k + 1}: engine {engine!r} "
                      f"transformers {answer!r}", file=sys.stderr)
            answers.append(step["raw_response"])  # teacher-forced: the engine's answer goes on
            feedback.append(correction(step))
        rows.append({"task": item["task"], "steps": len(steps), "engine_success": item["success"],
                     "same_answers": first_difference is None, "first_difference": first_difference})
    same = [r for r in rows if r["same_answers"]]
    return {"tasks": len(rows), "steps": asked, "tasks_with_same_answers": len(same),
            "engine_successes": sum(r["engine_success"] for r in rows),
            "successes_reproduced": sum(r["engine_success"] for r in same),
            "differ": differ, "prompt_length_mismatch": length_mismatch, "rows": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--grounding", help="the -o JSON of `deskpilot eval grounding` with this --model-dir")
    ap.add_argument("--tasks", help="the -o JSON of `deskpilot eval tasks` with this --model-dir")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--coordinate-window", type=int, metavar="N",
                    help="as `deskpilot eval --coordinate-window` (default: the checkpoint's deskpilot.json)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N grounding seeds and tasks (0: all)")
    ap.add_argument("--task", action="append", default=[], metavar="ID",
                    help="only this task of --tasks (repeatable; default: all)")
    ap.add_argument("--allow", type=int, default=0, help="differing answers tolerated before exit 1")
    ap.add_argument("--out", help="write the full comparison here")
    a = ap.parse_args()
    if not a.grounding and not a.tasks:
        sys.exit("score_parity: give --grounding and/or --tasks (the JSON `deskpilot eval -o` wrote)")
    for path in (a.grounding, a.tasks):
        if path and not os.path.exists(path):
            sys.exit(f"score_parity: {path}: no such file")
    torch.set_num_threads(a.threads)
    # As the engine ran: its description in the report names the grammar when it was on.
    used = {path: "action grammar" in load_report(path).get("engine", "") for path in (a.grounding, a.tasks) if path}
    if len(set(used.values())) > 1:
        sys.exit(f"score_parity: the reports' engines differ in the action grammar ({used}); compare one at a time")
    grammar = any(used.values())
    tf = Transformers(a.model_dir, a.max_new_tokens, a.coordinate_window, grammar)
    out = {"model_dir": a.model_dir, "action_grammar": grammar}
    if a.grounding:
        out["grounding"] = grounding(tf, a.grounding, a.limit)
    if a.tasks:
        out["tasks"] = tasks(tf, a.tasks, a.limit, a.task)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")
    summary = {}
    if "grounding" in out:
        g = out["grounding"]
        summary["grounding"] = {"targets": g["targets"], "differing_answers": g["differing_answers"],
                                "accuracy": {r: [round(v["engine"], 4), round(v["transformers"], 4)]
                                             for r, v in g["accuracy"].items()}}
    if "tasks" in out:
        t = out["tasks"]
        summary["tasks"] = {k: t[k] for k in ("tasks", "steps", "tasks_with_same_answers", "engine_successes",
                                               "successes_reproduced")}
        summary["tasks"]["prompt_length_mismatch"] = len(t["prompt_length_mismatch"])
    print(json.dumps(summary, indent=1))
    differing = out.get("grounding", {}).get("differing_answers", 0) + len(out.get("tasks", {}).get("differ", []))
    mismatch = len(out.get("tasks", {}).get("prompt_length_mismatch", []))
    sys.exit(0 if differing <= a.allow and mismatch == 0 else 1)


if __name__ == "__main__":
    main()
