// Python string-literal escapes, as UI-TARS prompts ask the model to write them in content='…'.
#pragma once

#include <string>
#include <string_view>

namespace deskpilot::planner {

// Decodes the body of a Python string literal (without its quotes): \\ \' \" \n \t \r \a \b \f \v,
// \ooo, \xhh, \uXXXX, \UXXXXXXXX (to UTF-8), backslash-newline (dropped). Unknown escapes keep the
// backslash, as Python does; a malformed \x/\u keeps the text as written rather than failing,
// because a model that writes one meant the characters it wrote.
std::string unescape_python(std::string_view body);

}  // namespace deskpilot::planner
