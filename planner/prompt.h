// Prompt templates: the published UI-TARS system prompts for computer use, mobile use and
// grounding, per family, word for word (they are the interface the models were trained on).
// The published templates are English text with a {language} slot that selects the language of
// the Thought ("English" or "Chinese"); that is the Chinese variant the models were trained with.
// The action space offered can be narrowed to a subset of the template's own lines.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "planner/family.h"

namespace deskpilot::planner {

enum class PromptKind { computer, mobile, grounding };
enum class PromptLanguage { english, chinese };

struct PromptOptions {
    PromptKind kind = PromptKind::computer;
    PromptLanguage language = PromptLanguage::english;
    // Action names to offer; empty offers the template's whole action space.
    std::vector<std::string> actions;
};

class PromptError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// The template text with its {language} and {instruction} slots.
std::string_view prompt_template(PromptStyle style, PromptKind kind);
// The action names the template offers, in its order.
std::vector<std::string> template_actions(PromptStyle style, PromptKind kind);
// The system prompt for a family: the template with the slots filled and the action space
// narrowed. Throws PromptError naming an action the template does not offer.
std::string render_prompt(const ModelFamily& family, const PromptOptions& options,
                          std::string_view instruction);

std::string_view to_string(PromptKind kind);
// nullopt-like: throws PromptError for an unknown name ("computer", "mobile", "grounding").
PromptKind prompt_kind_from_string(std::string_view name);

namespace detail {
struct PromptTemplateText {
    PromptStyle style;
    PromptKind kind;
    const char* text;
};
extern const PromptTemplateText kPromptTemplates[];
extern const std::size_t kPromptTemplateCount;
}  // namespace detail

}  // namespace deskpilot::planner
