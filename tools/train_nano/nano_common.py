"""Shared pieces of the deskpilot-nano pipeline: the prompt templates (read from the C++ planner,
so the text the model is trained on is the text the agent sends), the Qwen3-VL chat layout as
model/engine/chat_format.cpp writes it, smart_resize with the deskpilot-nano family's bounds,
the image processor settings, and rendering a sandbox screen offscreen."""
import json
import math
import os
import re
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# planner/family.cpp: deskpilot-nano = factor 32, 65536 to 640*400 pixels, absolute coordinates.
# NANO_MAX_PIXELS raises the cap for a resolution experiment (576000: 960x576, the ninth run's);
# checkpoints carry it in preprocessor_config.json, which the engine follows for this family.
FACTOR, MIN_PIXELS = 32, 65536


def _max_pixels():
    text = os.environ.get("NANO_MAX_PIXELS", str(640 * 400))
    if not text.isdigit() or int(text) < MIN_PIXELS:
        raise SystemExit(f"NANO_MAX_PIXELS '{text}': expected a pixel count of at least {MIN_PIXELS}")
    return int(text)


MAX_PIXELS = _max_pixels()
SCREEN = (1280, 800)  # the sandbox screen (eval's default); the model sees it as 640x384
SYSTEM_MESSAGE = "You are a helpful assistant."  # planner::ConversationOptions
MAX_SCREENSHOTS = 5  # agent::AgentConfig::history

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>", "<|box_start|>", "<|box_end|>"]


def smart_resize(width, height, factor=FACTOR, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS):
    """(width, height) the model sees; Python's round (half to even), as the processors."""
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}x{height} is above 200")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


def to_model_point(x, y, screen=SCREEN):
    """Screen pixel -> the absolute pixel of the resized image the model writes."""
    w, h = smart_resize(*screen)
    return round(x * w / screen[0]), round(y * h / screen[1])


def to_screen_point(x, y, screen=SCREEN):
    """The absolute pixel of the resized image the model writes -> the screen pixel, as
    planner::CoordinateMapper maps it for deskpilot-nano (round half to even: Python's round)."""
    w, h = smart_resize(*screen)
    return round(x * screen[0] / w), round(y * screen[1] / h)


def coordinate_limits(screen=SCREEN):
    """The largest x and y a deskpilot-nano answer about `screen` may write that still map onto
    it: NativeVlm's limits for its action grammar (CoordinateMapper's test, the same search)."""
    w, h = smart_resize(*screen)
    x, y = w, h
    while x > 0 and to_screen_point(x, 0, screen)[0] >= screen[0]:
        x -= 1
    while y > 0 and to_screen_point(0, y, screen)[1] >= screen[1]:
        y -= 1
    return x, y


# The second look (agent/second_look.cpp, its twin): the quarter of the screen around a first
# point (half its width and height), each pixel doubled, so the model sees it at twice the first
# look's scale in an image of the screen's size.
ZOOM_CROP = (SCREEN[0] // 2, SCREEN[1] // 2)


def zoom_origin(x, y, screen=SCREEN):
    """The top-left screen pixel of the second look's region around a point (a float is rounded
    half up; the agent's points are whole pixels), kept on the screen."""
    w, h = screen[0] // 2, screen[1] // 2
    cx, cy = math.floor(x + 0.5), math.floor(y + 0.5)
    return min(max(cx - w // 2, 0), screen[0] - w), min(max(cy - h // 2, 0), screen[1] - h)


def zoom_image(screen, origin):
    """The second look's image (HxWx3 uint8 array) of a screen array at an origin: the region's
    pixels each doubled (OpenCV's INTER_NEAREST_EXACT at 2x in the agent)."""
    x0, y0 = origin
    h, w = screen.shape[0] // 2, screen.shape[1] // 2
    return screen[y0:y0 + h, x0:x0 + w].repeat(2, axis=0).repeat(2, axis=1)


def zoom_to_screen(point, origin):
    """A point of the second look's screen-sized image -> the screen pixel (halved, floored)."""
    return origin[0] + point[0] // 2, origin[1] + point[1] // 2


# The coordinate readout (model/engine/coordinate_readout.cpp, its twin): inside a box, a greedy
# number is replaced by the mean of the numbers within the window around it, weighted by their
# probabilities renormalised within the window, rounded half to even. The window a checkpoint asks
# for is in its deskpilot.json ("coordinate_window"; absent: 0, the most likely number); the ones this
# pipeline writes ask for COORDINATE_WINDOW (chosen on seeds 0..49, the thirty-seventh run).
COORDINATE_WINDOW = 16


def checkpoint_marker(model_dir):
    """A checkpoint folder's deskpilot.json ({} when it has none)."""
    path = os.path.join(model_dir, "deskpilot.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def trained_screenshot_first(model_dir):
    """Whether a checkpoint folder's deskpilot.json says it was trained with its screenshot first."""
    return bool(checkpoint_marker(model_dir).get("screenshot_first", False))


def coordinate_window(model_dir):
    return int(checkpoint_marker(model_dir).get("coordinate_window", 0))


def coordinate_readout(number_logits, mode, window):
    """The number to write, given the logits of the number tokens 0..N-1 (a sequence of floats)
    and the most likely number `mode`."""
    if window <= 0:
        return mode
    lo, hi = max(0, mode - window), min(len(number_logits) - 1, mode + window)
    top = float(number_logits[mode])
    weights = [math.exp(float(number_logits[v]) - top) for v in range(lo, hi + 1)]
    mean = sum(w * v for w, v in zip(weights, range(lo, hi + 1))) / sum(weights)
    return min(max(round(mean), lo), hi)  # round(): half to even, as std::nearbyint


class CoordinateReadoutProcessor:
    """A transformers logits processor for greedy generate(): inside a box, the greedy number is
    replaced by coordinate_readout's (the engine's rule), by leaving it the only finite logit."""

    def __init__(self, tokenizer, window):
        self.window = window
        self.numbers = []
        while tokenizer.token_to_id(str(len(self.numbers))) is not None:
            self.numbers.append(tokenizer.token_to_id(str(len(self.numbers))))
        if window > 0 and len(self.numbers) < 100:
            raise ValueError("a coordinate window needs a tokenizer with one token per number")
        self.value_of = {t: v for v, t in enumerate(self.numbers)}
        self.box = tokenizer.token_to_id("<|box_start|>"), tokenizer.token_to_id("<|box_end|>")

    def __call__(self, input_ids, scores):
        if self.window <= 0:
            return scores
        for row in range(scores.shape[0]):
            ids = input_ids[row].tolist()
            start = max((i for i, t in enumerate(ids) if t == self.box[0]), default=-1)
            end = max((i for i, t in enumerate(ids) if t == self.box[1]), default=-1)
            mode = int(scores[row].argmax())
            if start <= end or mode not in self.value_of:
                continue
            value = coordinate_readout(scores[row, self.numbers].tolist(), self.value_of[mode], self.window)
            chosen = self.numbers[value]
            scores[row] = float("-inf")
            scores[row, chosen] = 0.0
        return scores


def prompt_template(kind):
    """The ui_tars_1_5 template of `kind` (computer, grounding) from planner/prompt_templates.cpp."""
    with open(os.path.join(ROOT, "planner", "prompt_templates.cpp"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"\{PromptStyle::ui_tars_1_5, PromptKind::" + kind + r', R"DP\((.*?)\)DP"\}', src, re.S)
    if not m:
        raise RuntimeError(f"no ui_tars_1_5 {kind} template in planner/prompt_templates.cpp")
    return m.group(1)


def render_prompt(kind, instruction):
    return prompt_template(kind).replace("{language}", "English").replace("{instruction}", instruction)


def grounding_instruction(role, label):
    # agent/eval/grounding.cpp instruction_for
    if role == "button":
        return f'Click the "{label}" button'
    if role == "checkbox":
        return f'Click the checkbox labelled "{label}"'
    if role == "radio":
        return f'Click the "{label}" radio button'
    if role == "list_item":
        return f'Click "{label}" in the list'
    if role == "tab":
        return f'Click the "{label}" tab'
    return f'Click the "{label}" menu'


def render_chat(messages, image_tokens, add_generation_prompt=True):
    """model/engine/chat_format.cpp, ChatTemplate::qwen3_vl. messages: [{"role", "parts": [str or
    {"image": i}]}]; image_tokens[i]: <|image_pad|> count of image i."""
    out = []
    if messages and messages[0]["role"] == "system":
        out.append("<|im_start|>system\n" + "".join(p for p in messages[0]["parts"] if isinstance(p, str))
                   + "<|im_end|>\n")
    for m in messages:
        if m["role"] == "user":
            body = ""
            for p in m["parts"]:
                if isinstance(p, str):
                    body += p
                else:
                    body += "<|vision_start|>" + "<|image_pad|>" * image_tokens[p["image"]] + "<|vision_end|>"
            out.append("<|im_start|>user\n" + body + "<|im_end|>\n")
        elif m["role"] == "assistant":
            out.append("<|im_start|>assistant\n" + "".join(p for p in m["parts"] if isinstance(p, str))
                       + "<|im_end|>\n")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def task_messages(prompt, screenshots, answers, feedback=()):
    """A task step's conversation as planner::Conversation builds it: the system turn, the prompt
    and the first screenshot in one user turn, then answers and screenshots alternating, with only
    the last MAX_SCREENSHOTS screenshots sent. answers: the earlier steps' answers (one fewer than
    the screenshots); feedback[i]: the agent's correction turn after answer i, or None (it and the
    next screenshot form one user turn). Returns (messages, the screenshots sent)."""
    first_kept = max(0, len(screenshots) - MAX_SCREENSHOTS)
    messages = [{"role": "system", "parts": [SYSTEM_MESSAGE]}, {"role": "user", "parts": [prompt]}]
    for i in range(len(screenshots)):
        if i >= first_kept:
            part = {"image": i - first_kept}
            if messages[-1]["role"] == "user":
                messages[-1]["parts"].append(part)
            else:
                messages.append({"role": "user", "parts": [part]})
        if i < len(answers):
            messages.append({"role": "assistant", "parts": [strip_special(answers[i])]})
        if i < len(feedback) and feedback[i] is not None:
            messages.append({"role": "user", "parts": [feedback[i]]})
    return messages, screenshots[first_kept:]


def in_layout(messages, screenshot_first):
    """`messages` as a checkpoint trained with `screenshot_first` is asked (deskpilot.json
    "screenshot_first"; train.py --screenshot-first): when true, in the first user turn the images
    come before the text, each kind in its order (planner::Conversation does the same for such a
    checkpoint); when false, unchanged. Why: the grounding examples of one screen then share
    everything up to the instruction, which train.py --pack computes once for all of them."""
    if not screenshot_first:
        return messages
    out = [dict(m) for m in messages]
    for m in out:
        if m["role"] == "user":
            m["parts"] = [p for p in m["parts"] if not isinstance(p, str)] + [p for p in m["parts"]
                                                                                if isinstance(p, str)]
            break
    return out


INSTRUCTION_HEADER = "## User Instruction\n"


def instruction_positions(prompt, offsets):
    """The indices of a tokenized prompt's tokens (their character offsets, as tokenizers'
    Encoding.offsets gives them) that hold the user's instruction: after the template's header,
    up to the next special token (the screenshot's <|vision_start|> or the turn's <|im_end|>);
    empty when the prompt has no such header."""
    at = prompt.find(INSTRUCTION_HEADER)
    if at < 0:
        return []
    start = at + len(INSTRUCTION_HEADER)
    end = prompt.find("<|", start)
    end = len(prompt) if end < 0 else end
    return [i for i, (a, b) in enumerate(offsets) if a >= start and b <= end and b > a]


def strip_special(text):
    """What NativeVlm's stream decoder returns (special tokens skipped): the history the agent
    sends back."""
    return text.replace("<|box_start|>", "").replace("<|box_end|>", "")


def image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    return Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3,
                                    size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS})


def preprocessor_config():
    return {"image_processor_type": "Qwen2VLImageProcessor", "do_resize": True, "do_rescale": True,
            "do_normalize": True, "do_convert_rgb": True, "resample": 3, "rescale_factor": 1 / 255,
            "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "patch_size": 16, "temporal_patch_size": 2,
            "merge_size": 2, "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
            "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS}


def render_screen(sandbox, seed, png, do_steps=()):
    """Renders the sandbox of `seed` offscreen after replaying `do_steps` (--do), writes the
    screenshot to `png` and returns the layout JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        layout_path = os.path.join(tmp, "layout.json")
        args = [sandbox, "--seed", str(seed), "--geometry", f"{SCREEN[0]}x{SCREEN[1]}", "--screenshot", png,
                "--layout-json", layout_path]
        for step in do_steps:
            args += ["--do", step]
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        env.pop("DISPLAY", None)
        r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"sandbox seed {seed} steps {list(do_steps)}: {r.stderr.strip()}")
        with open(layout_path) as f:
            return json.load(f)


def eval_out_dir(result_path, report):
    """The folder of a `deskpilot eval -o RESULT.json` run's screenshots and sessions: eval writes
    it beside the report (RESULT.json.d), and the report names it relative to the folder eval ran
    in. Beside the report first, so that from another folder a namesake there (the default report
    names are the same for every run) is not taken; the named one for a report copied away from its
    folder. Raises ValueError naming both when neither is a folder."""
    named = report.get("out_dir", "")
    beside = result_path + ".d"
    for folder in (beside, named):
        if folder and os.path.isdir(folder):
            return folder
    raise ValueError(f"{result_path}: its out_dir '{named}' is not a folder from here, and neither is {beside} "
                     "(run from where eval ran, or keep the report beside its folder)")


def target_point(target):
    """(x, y) of the first point in an answer ('Action: click(start_box=...(x,y)...)')."""
    m = re.search(r"\((\d+),(\d+)\)", target)
    return int(m.group(1)), int(m.group(2))
