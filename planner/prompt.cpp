#include "planner/prompt.h"

#include <algorithm>

namespace deskpilot::planner {

namespace {

bool is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The action a line of the action space defines ("click" for "click(start_box=…) # …"), or "".
std::string_view action_of_line(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && is_ident(line[i])) ++i;
    return i > 0 && i < line.size() && line[i] == '(' ? line.substr(0, i) : std::string_view{};
}

// Calls f(line, in_action_space) for each line (without its '\n'); f returns whether to keep it.
template <typename F>
std::string filter_lines(std::string_view text, F&& keep) {
    std::string out;
    out.reserve(text.size());
    bool in_space = false;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        const std::string_view line = text.substr(pos, end - pos);
        if (line.starts_with("## ")) in_space = line == "## Action Space";
        if (keep(line, in_space)) {
            out += line;
            if (end < text.size()) out += '\n';
        }
        if (end >= text.size()) break;
        pos = end + 1;
    }
    return out;
}

void replace_all(std::string& text, std::string_view slot, std::string_view value) {
    for (std::size_t pos = text.find(slot); pos != std::string::npos;
         pos = text.find(slot, pos + value.size()))
        text.replace(pos, slot.size(), value);
}

}  // namespace

std::string_view to_string(PromptKind kind) {
    switch (kind) {
        case PromptKind::computer:
            return "computer";
        case PromptKind::mobile:
            return "mobile";
        case PromptKind::grounding:
            return "grounding";
    }
    return "computer";
}

PromptKind prompt_kind_from_string(std::string_view name) {
    for (PromptKind kind : {PromptKind::computer, PromptKind::mobile, PromptKind::grounding})
        if (to_string(kind) == name) return kind;
    throw PromptError("unknown prompt kind '" + std::string(name) +
                      "'; known: computer, mobile, grounding");
}

std::string_view prompt_template(PromptStyle style, PromptKind kind) {
    for (std::size_t i = 0; i < detail::kPromptTemplateCount; ++i)
        if (detail::kPromptTemplates[i].style == style && detail::kPromptTemplates[i].kind == kind)
            return detail::kPromptTemplates[i].text;
    throw PromptError("no " + std::string(to_string(kind)) + " template for this family");
}

std::vector<std::string> template_actions(PromptStyle style, PromptKind kind) {
    std::vector<std::string> names;
    filter_lines(prompt_template(style, kind), [&](std::string_view line, bool in_space) {
        if (in_space)
            if (const auto name = action_of_line(line); !name.empty()) names.emplace_back(name);
        return false;
    });
    return names;
}

std::string render_prompt(const ModelFamily& family, const PromptOptions& options,
                          std::string_view instruction) {
    const std::string_view text = prompt_template(family.prompt_style, options.kind);
    std::string prompt;
    if (options.actions.empty()) {
        prompt = std::string(text);
    } else {
        const std::vector<std::string> offered =
            template_actions(family.prompt_style, options.kind);
        for (const std::string& name : options.actions)
            if (std::find(offered.begin(), offered.end(), name) == offered.end()) {
                std::string list;
                for (const auto& o : offered) list += (list.empty() ? "" : ", ") + o;
                throw PromptError(
                    "action '" + name + "' is not in the " + std::string(family.name) + " " +
                    std::string(to_string(options.kind)) + " template (it offers: " + list + ")");
            }
        prompt = filter_lines(text, [&](std::string_view line, bool in_space) {
            const auto name = in_space ? action_of_line(line) : std::string_view{};
            return name.empty() || std::find(options.actions.begin(), options.actions.end(),
                                             name) != options.actions.end();
        });
    }
    replace_all(prompt, "{language}",
                options.language == PromptLanguage::chinese ? "Chinese" : "English");
    replace_all(prompt, "{instruction}", instruction);
    return prompt;
}

}  // namespace deskpilot::planner
