# Emits planner/prompt_templates.cpp from the published UI-TARS templates (exact text).
#   python3 tools/prompts/emit_templates.py   (from the repository root)
import sys
# Run with the PyPI package installed: pip install -r tools/golden/requirements.txt
from ui_tars import prompt as official  # PyPI ui-tars 0.5.1, ui_tars/prompt.py

BOX = "<|box_start|>(x1,y1)<|box_end|>"
BOX3 = "<|box_start|>(x3,y3)<|box_end|>"

# UI-TARS 1.5: bytedance/UI-TARS codes/prompts.py (COMPUTER_USE, MOBILE_USE, GROUNDING).
UITARS15_COMPUTER = """You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
```
Thought: ...
Action: ...
```

## Action Space

click(start_box='""" + BOX + """')
left_double(start_box='""" + BOX + """')
right_single(start_box='""" + BOX + """')
drag(start_box='""" + BOX + """', end_box='""" + BOX3 + """')
hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 keys in one hotkey action.
type(content='xxx') # Use escape characters \\', \\", and \\n in content part to ensure we can parse the content in normal python string format. If you want to submit your input, use \\n at the end of content. 
scroll(start_box='""" + BOX + """', direction='down or up or right or left') # Show more information on the `direction` side.
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished(content='xxx') # Use escape characters \\', \\", and \\n in content part to ensure we can parse the content in normal python string format.


## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""

UITARS15_MOBILE = """You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task. 
## Output Format
```
Thought: ...
Action: ...
```
## Action Space

click(start_box='""" + BOX + """')
long_press(start_box='""" + BOX + """')
type(content='') #If you want to submit your input, use "\\n" at the end of `content`.
scroll(start_box='""" + BOX + """', direction='down or up or right or left')
open_app(app_name='')
drag(start_box='""" + BOX + """', end_box='""" + BOX3 + """')
press_home()
press_back()
finished(content='xxx') # Use escape characters \\', \\", and \\n in content part to ensure we can parse the content in normal python string format.


## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""

UITARS15_GROUNDING = ("You are a GUI agent. You are given a task and your action history, with screenshots. You need "
                      "to perform the next action to complete the task. \n\n## Output Format\n\nAction: ...\n\n\n"
                      "## Action Space\nclick(start_box='" + BOX + "')\n\n## User Instruction\n{instruction}")

# UI-TARS 1.0: UI-TARS README_v1 / UI-TARS-desktop prompts.ts getSystemPrompt with the
# NutJS operator's action space (call_user, finished()).
UITARS10_COMPUTER = """You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
```
Thought: ...
Action: ...
```

## Action Space
click(start_box='[x1, y1, x2, y2]')
left_double(start_box='[x1, y1, x2, y2]')
right_single(start_box='[x1, y1, x2, y2]')
drag(start_box='[x1, y1, x2, y2]', end_box='[x3, y3, x4, y4]')
hotkey(key='')
type(content='') #If you want to submit your input, use "\\n" at the end of `content`.
scroll(start_box='[x1, y1, x2, y2]', direction='down or up or right or left')
wait() #Sleep for 5s and take a screenshot to check for any changes.
finished()
call_user() # Submit the task and call the user when the task is unsolvable, or when you need the user's help.

## Note
- Use {language} in `Thought` part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in `Thought` part.

## User Instruction
{instruction}
"""

UITARS10_MOBILE = """You are a GUI agent. You are given a task and your action history, with screenshots. You need to perform the next action to complete the task.

## Output Format
Thought: ...
Action: ...

## Action Space
click(start_box='""" + BOX + """')
long_press(start_box='""" + BOX + """', time='')
type(content='')
drag(start_box='""" + BOX + """', end_box='""" + BOX3 + """')
press_home()
press_back()
finished(content='') # Submit the task regardless of whether it succeeds or fails.

## Note
- Use {language} in Thought part.
- Write a small plan and finally summarize your next action (with its target element) in one sentence in Thought part.

## User Instruction
{instruction}
"""

TEMPLATES = [
    ("ui_tars_1_0", "computer", UITARS10_COMPUTER, "UI-TARS-desktop apps/ui-tars/src/main/agent/prompts.ts (getSystemPrompt) with the NutJS operator action space"),
    ("ui_tars_1_0", "mobile", UITARS10_MOBILE, "UI-TARS README_v1 mobile template"),
    ("ui_tars_1_0", "grounding", UITARS15_GROUNDING, "UI-TARS codes/prompts.py GROUNDING"),
    ("ui_tars_1_5", "computer", UITARS15_COMPUTER, "UI-TARS codes/prompts.py COMPUTER_USE"),
    ("ui_tars_1_5", "mobile", UITARS15_MOBILE, "UI-TARS codes/prompts.py MOBILE_USE"),
    ("ui_tars_1_5", "grounding", UITARS15_GROUNDING, "UI-TARS codes/prompts.py GROUNDING"),
    ("doubao", "computer", official.COMPUTER_USE_DOUBAO, "PyPI ui-tars ui_tars/prompt.py COMPUTER_USE_DOUBAO"),
    ("doubao", "mobile", official.MOBILE_USE_DOUBAO, "PyPI ui-tars ui_tars/prompt.py MOBILE_USE_DOUBAO"),
    ("doubao", "grounding", official.GROUNDING_DOUBAO, "PyPI ui-tars ui_tars/prompt.py GROUNDING_DOUBAO"),
]

out = ["// The published UI-TARS prompt templates, word for word: they are the models' interface.",
       "// Sources (Apache-2.0, see NOTICE) are named beside each template. Placeholders: {language}",
       "// (English / Chinese) and {instruction}. Generated once by tools/prompts/emit_templates.py;",
       "// edit only to follow a new published version.",
       "// clang-format off",
       '#include "planner/prompt.h"', "", "namespace deskpilot::planner::detail {", "",
       "const PromptTemplateText kPromptTemplates[] = {"]
for style, kind, text, source in TEMPLATES:
    assert ")DP\"" not in text
    out.append(f"    // {source}")
    out.append(f"    {{PromptStyle::{style}, PromptKind::{kind}, R\"DP({text})DP\"}},")
out += ["};", "", "const std::size_t kPromptTemplateCount = sizeof(kPromptTemplates) / sizeof(kPromptTemplates[0]);", "",
        "}  // namespace deskpilot::planner::detail", "// clang-format on", ""]
open("planner/prompt_templates.cpp", "w").write("\n".join(out))
