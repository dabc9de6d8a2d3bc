#!/usr/bin/env python3
"""Training data for deskpilot-nano: seeded sandbox screens rendered offscreen, with instructions
and UI-TARS-1.5 answers in the deskpilot-nano family's coordinates (absolute pixels of the
640x384 image a 1280x800 screen is resized to; NANO_MAX_PIXELS changes it).

    tools/train_nano/make_dataset.py --sandbox build/bin/deskpilot-sandbox --out data/nano \
        --train-seeds 10000..10499 --val-seeds 5000..5019

Seeds: eval uses 0..999 (grounding screens and the task file's seeds), so training seeds start at
10000 and validation seeds at 5000; make_dataset refuses overlapping ranges.

Each example is one model call as the agent makes it (agent::Agent with planner::Conversation):
  grounding  the grounding prompt + one screenshot -> "Action: click(start_box=...)"
  task       the computer prompt + the last <= 5 screenshots and the earlier answers (as the agent
             sends them back: special tokens stripped) -> "Thought: ...\\nAction: ..."
Written to OUT/examples.jsonl ({"id", "split", "seed", "kind", "images", "messages", "target"})
and OUT/screens/*.png (each with its layout JSON, *.layout.json); a mid-task screen is rendered by replaying the earlier steps (--do).
"""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402

ROLE_WORDS = {"button": "button", "checkbox": "checkbox", "radio": "option", "list_item": "list item",
              "tab": "tab", "menu": "menu", "menu_item": "menu entry", "text_field": "field",
              "text_area": "box", "combo": "drop-down", "list": "list", "dialog": "dialog"}


def parse_range(text):
    a, _, b = text.partition("..")
    return list(range(int(a), int(b or a) + 1))


class Sandbox:
    """Runs deskpilot-sandbox offscreen for one seed; caches screens by the steps replayed, and
    names them by seed and order, so the output does not depend on --jobs."""

    def __init__(self, binary, out_dir, seed, reuse_dir=None):
        self.binary, self.out_dir, self.seed, self.cache = binary, out_dir, seed, {}
        self.reuse_dir = reuse_dir
        os.makedirs(os.path.join(out_dir, "screens"), exist_ok=True)

    def screen(self, seed, do_steps=()):
        assert seed == self.seed
        key = tuple(do_steps)
        if key in self.cache:
            return self.cache[key]
        name = f"s{seed}_{len(self.cache):03d}.png"
        png = os.path.join(self.out_dir, "screens", name)
        if self.reuse_dir:
            layout = reuse_screen(self.reuse_dir, self.out_dir, name)
        else:
            layout = nc.render_screen(self.binary, seed, png, do_steps)
            # The layout beside the screenshot: train.py --label-aux reads every widget's rect from it.
            with open(png[:-len(".png")] + ".layout.json", "w") as f:
                json.dump(layout, f)
        widgets = {w["name"]: w for w in layout["widgets"]}
        self.cache[key] = ("screens/" + name, widgets)
        return self.cache[key]


def reuse_screen(reuse_dir, out_dir, name):
    """The screen `name` of an earlier data set (--reuse-screens), linked into out_dir; returns its
    layout. Screens are named by seed and order of first use, so a data set made with the same
    seeds, --seed, --tasks-per-seed and task file asks for the same screens in the same order."""
    for suffix in (".png", ".layout.json"):
        src = os.path.join(reuse_dir, "screens", name[:-len(".png")] + suffix)
        dst = os.path.join(out_dir, "screens", name[:-len(".png")] + suffix)
        if not os.path.exists(src):
            raise RuntimeError(f"--reuse-screens {reuse_dir}: no {src} (made with other seeds or settings?)")
        if os.path.abspath(src) != os.path.abspath(dst) and not os.path.exists(dst):
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    with open(os.path.join(reuse_dir, "screens", name[:-len(".png")] + ".layout.json")) as f:
        return json.load(f)


def centre(widget):
    x, y, w, h = widget["rect"]
    return nc.to_model_point(x + w / 2, y + h / 2)


def box(p):
    return f"<|box_start|>({p[0]},{p[1]})<|box_end|>"


def py_quote(text):
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def grounding_examples(sandbox, seed, rng):
    image, widgets = sandbox.screen(seed)
    out = []
    for name, w in widgets.items():
        role = w["role"]
        if not w["visible"] or role not in ("button", "checkbox", "radio", "list_item", "tab", "menu"):
            continue
        if role == "tab" and w.get("selected"):
            continue
        if role == "checkbox" and name != "agree":
            continue
        if role == "list_item" and rng.random() > 0.25:  # many items per screen: a sample
            continue
        if not w["label"]:
            continue
        out.append(grounding_example(seed, name, w, image))
    return out


def grounding_example(seed, name, widget, image):
    """The grounding example for one widget of a screenshot: the agent's grounding prompt asking
    for it by role and label, answered with a click at its centre."""
    instruction = nc.grounding_instruction(widget["role"], widget["label"])
    messages = [{"role": "system", "parts": [nc.SYSTEM_MESSAGE]},
                {"role": "user", "parts": [nc.render_prompt("grounding", instruction), {"image": 0}]}]
    return {"kind": "grounding", "seed": seed, "widget": name, "images": [image], "messages": messages,
            "target": f"Action: click(start_box='{box(centre(widget))}')"}


# ---- tasks ----------------------------------------------------------------------------------

def extra_task_templates():
    """Beyond eval/tasks/sandbox.json's own templates: single clicks on every kind of widget, so the
    task prompt sees the whole screen's vocabulary."""
    t = []
    for name in ("save", "cancel", "ok", "open_dialog"):
        t.append({"id": f"click-{name}", "text": f"Click the '{{label:{name}}}' button.",
                  "plan": [{"click": name}]})
    for i in (1, 2, 3):
        t.append({"id": f"radio-{i}", "text": f"Choose '{{label:radio_{i}}}'.", "plan": [{"click": f"radio_{i}"}]})
    for i in (1, 4, 5, 8):
        t.append({"id": f"item-{i}", "text": f"Select '{{label:item_{i}}}' in the list.",
                  "plan": [{"click": f"item_{i}"}]})
    t.append({"id": "type-notes", "text": "Write '{text}' in the '{label:notes}' box.",
              "plan": [{"click": "notes"}, {"type": "{text}"}]})
    t.append({"id": "type-name", "text": "Type '{text}' into the '{label:name}' field.",
              "plan": [{"click": "name"}, {"type": "{text}"}]})
    t.append({"id": "menu-open", "text": "Choose File, then Open, from the menu bar.",
              "plan": [{"click": "menu_file"}, {"click": "menu_item:File/Open"}]})
    t.append({"id": "menu-copy", "text": "Choose Edit, then Copy, from the menu bar.",
              "plan": [{"click": "menu_edit"}, {"click": "menu_item:Edit/Copy"}]})
    t.append({"id": "context-delete", "text": "Right-click '{label:item_3}' in the list and choose Delete.",
              "plan": [{"right_click": "item_3"}, {"click": "menu_item:List/Delete"}]})
    t.append({"id": "scroll-up", "text": "Scroll the list up.", "plan": [{"scroll": "list", "direction": "up"}]})
    return t


NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Linus", "Margaret Hamilton", "Ken Thompson",
         "Barbara Liskov", "Edsger Dijkstra", "Call back tomorrow", "Order 66 parts", "Meet at noon", "X42",
         "Q7", "hello world", "Dennis Ritchie", "Frances Allen"]

KEYS_FOR_DO = {"ctrl s": "Ctrl+S", "down": "Down", "up": "Up", "enter": "Return", "ctrl a": "Ctrl+A"}


def render_text(text, widgets, fill):
    out = text.replace("{text}", fill)
    while "{label:" in out:
        a = out.index("{label:")
        b = out.index("}", a)
        name = out[a + 7:b]
        out = out[:a] + widgets[name]["label"] + out[b + 1:]
    return out


def describe(widget):
    role = widget["role"]
    label = widget["label"]
    if label == widget["name"]:
        # No visible label: the sandbox's layout then gives the object name (the dialog's input is
        # "dialog_input"), which is not on the screen, so a thought must not quote it.
        where = " in the dialog" if widget["name"].startswith("dialog_") else ""
        return f"the {ROLE_WORDS.get(role, role)}{where}"
    if role == "menu_item":
        return f"'{label}' in the open menu"
    if role in ("text_field", "text_area"):
        return f"the '{label}' {ROLE_WORDS[role]}"
    if role == "combo":
        return "the colour drop-down"
    return f"the '{label}' {ROLE_WORDS.get(role, role)}"


def step_answer(step, widgets, fill):
    """(thought, action, --do step or None) for one plan step on the current screen."""
    if "click" in step or "double_click" in step or "right_click" in step:
        verb = next(k for k in ("click", "double_click", "right_click") if k in step)
        w = widgets[step[verb]]
        if not w["visible"]:
            raise KeyError(f"{step[verb]} is not visible")
        p = box(centre(w))
        if verb == "click":
            return (f"I need to click {describe(w)}.", f"click(start_box='{p}')", "click:" + w["name"])
        if verb == "double_click":
            return (f"I'll double-click {describe(w)} to open it.", f"left_double(start_box='{p}')",
                    "double:" + w["name"])
        return (f"I'll right-click {describe(w)} to open its menu.", f"right_single(start_box='{p}')",
                "right:" + w["name"])
    if "type" in step:
        text = step["type"].replace("{text}", fill)
        shown = text.rstrip("\n")
        end = " and press Enter" if text.endswith("\n") else ""
        return (f"The field has focus, so I'll type '{shown}'{end}.", f"type(content='{py_quote(text)}')",
                "type:" + text.replace("\n", "\\n"))
    if "hotkey" in step:
        keys = step["hotkey"]
        return (f"I'll press {keys.replace(' ', '+')}.", f"hotkey(key='{keys}')", "key:" + KEYS_FOR_DO[keys])
    if "scroll" in step:
        w = widgets[step["scroll"]]
        d = step.get("direction", "down")
        return (f"I'll scroll {describe(w)} {d}.", f"scroll(start_box='{box(centre(w))}', direction='{d}')",
                f"scroll:{w['name']}:{d}")
    raise ValueError(f"unknown plan step {step}")


def task_examples(sandbox, seed, template, rng):
    fill = rng.choice(NAMES)
    _, widgets0 = sandbox.screen(seed)  # the first screen: labels for the instruction
    try:
        text = render_text(template["text"], widgets0, fill)
    except KeyError:
        return []
    prompt = nc.render_prompt("computer", text)
    do_steps, images, answers, out = [], [], [], []
    plan = list(template["plan"]) + [{"finished": True}]
    for k, step in enumerate(plan):
        image, widgets = sandbox.screen(seed, do_steps)
        images.append(image)
        if "finished" in step:
            thought, action, do = "The task is complete.", f"finished(content='{py_quote(text)}')", None
        else:
            try:
                thought, action, do = step_answer(step, widgets, fill)
            except KeyError:
                return out  # the plan does not fit this screen (e.g. an item scrolled away)
        target = f"Thought: {thought}\nAction: {action}"
        messages, used = nc.task_messages(prompt, images, answers)
        out.append({"kind": "task", "seed": seed, "task": template["id"], "step": k, "images": used,
                    "messages": messages, "target": target})
        answers.append(target)
        if do is not None:
            do_steps.append(do)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sandbox", default=os.path.join(nc.ROOT, "build", "bin", "deskpilot-sandbox"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-seeds", default="10000..10099")
    ap.add_argument("--val-seeds", default="5000..5009")
    ap.add_argument("--tasks-per-seed", type=int, default=3)
    ap.add_argument("--tasks", default=os.path.join(nc.ROOT, "eval", "tasks", "sandbox.json"))
    ap.add_argument("--seed", type=int, default=0, help="seed of the choices made here")
    ap.add_argument("--jobs", type=int, default=1, help="sandboxes rendering at once")
    ap.add_argument("--reuse-screens", metavar="DIR",
                    help="take the screens and layouts of an earlier data set made with the same seeds and settings "
                         "(linked, not rendered), e.g. to write its answers for another NANO_MAX_PIXELS")
    a = ap.parse_args()
    train, val = parse_range(a.train_seeds), parse_range(a.val_seeds)
    if set(train) & set(val):
        sys.exit("make_dataset: --train-seeds and --val-seeds overlap")
    if min(train + val) < 1000:
        sys.exit("make_dataset: seeds below 1000 are evaluation seeds (deskpilot eval); use others")
    if a.reuse_screens and not os.path.isdir(os.path.join(a.reuse_screens, "screens")):
        sys.exit(f"make_dataset: --reuse-screens {a.reuse_screens}: no screens/ folder in it")
    if not a.reuse_screens and not os.access(a.sandbox, os.X_OK):
        sys.exit(f"make_dataset: {a.sandbox}: not an executable (build deskpilot-sandbox first)")
    with open(a.tasks) as f:
        templates = [{"id": t["id"], "text": t["text"], "plan": t["plan"]} for t in json.load(f)["tasks"]]
    templates += extra_task_templates()

    def one_seed(seed):
        # Each seed draws from its own generator: the same examples whatever --jobs is.
        rng = random.Random(f"{a.seed}:{seed}")
        sandbox = Sandbox(a.sandbox, a.out, seed, a.reuse_screens)
        examples = grounding_examples(sandbox, seed, rng)
        for t in rng.sample(templates, a.tasks_per_seed):
            examples += task_examples(sandbox, seed, t, rng)
        return examples, len(sandbox.cache)

    os.makedirs(os.path.join(a.out, "screens"), exist_ok=True)
    n = {"train": 0, "val": 0}
    screens = 0
    with open(os.path.join(a.out, "examples.jsonl"), "w", encoding="utf-8") as out, \
            concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for split, seeds in (("train", train), ("val", val)):
            for seed, (examples, rendered) in zip(seeds, pool.map(one_seed, seeds)):
                screens += rendered
                for e in examples:
                    e["id"] = f"{split}-{n[split]:06d}"
                    e["split"] = split
                    n[split] += 1
                    out.write(json.dumps(e, ensure_ascii=False) + "\n")
                print(f"{split} seed {seed}: {len(examples)} examples, {rendered} screens", flush=True)
    print(f"wrote {a.out}/examples.jsonl: {n['train']} train, {n['val']} val, {screens} screens")


if __name__ == "__main__":
    main()
