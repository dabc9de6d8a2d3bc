// The seed / Doubao XML call layout:
//   <seed:tool_call><function=click><parameter=point><point>17 58</point></parameter></function>
//   </seed:tool_call>   (one or several functions, one or several blocks)
#include <cstdint>

#include "planner/grammar_detail.h"
#include "planner/parse_error.h"

namespace deskpilot::planner::detail {

void parse_seed_tool_calls(std::string_view s, std::size_t base, std::size_t first_block,
                           RawResponse& out) {
    constexpr std::string_view kOpen = "<seed:tool_call>";
    constexpr std::string_view kClose = "</seed:tool_call>";
    std::string_view head = trim(s.substr(0, first_block));
    if (const std::size_t n = label_at(head, 0, "Thought"); n > 0) head = trim(head.substr(n));
    out.thought = head;

    for (std::size_t block = first_block; block != npos; block = find(s, kOpen, block)) {
        std::size_t pos = block + kOpen.size();
        std::size_t block_end = find(s, kClose, pos);
        const std::size_t next = block_end == npos ? npos : block_end + kClose.size();
        if (block_end == npos) block_end = s.size();  // truncated output
        const std::string_view body = s.substr(0, block_end);
        for (;;) {
            pos = skip_ws(body, pos);
            if (pos >= body.size()) break;
            if (!starts_with(body, pos, "<function="))
                throw ParseError("expected <function=NAME> inside <seed:tool_call>", base + pos,
                                 body.substr(pos, 60));
            const std::size_t call_start = pos;
            const std::size_t name_start = pos + 10;
            const std::size_t name_end = body.find('>', name_start);
            if (name_end == npos)
                throw ParseError("unclosed <function= tag", base + pos, body.substr(pos, 60));
            const std::string_view name = trim(body.substr(name_start, name_end - name_start));
            const std::size_t fn_end = find(body, "</function>", name_end);
            if (fn_end == npos)
                throw ParseError("<function=" + std::string(name) + "> has no </function>",
                                 base + pos, body.substr(pos, 60));
            const auto first_argument = static_cast<std::uint32_t>(out.arguments.size());
            std::size_t p = name_end + 1;
            for (;;) {
                p = skip_ws(body, p);
                if (p >= fn_end) break;
                if (!starts_with(body, p, "<parameter="))
                    throw ParseError(
                        "expected <parameter=NAME> inside <function=" + std::string(name) + ">",
                        base + p, body.substr(p, 60));
                const std::size_t arg_name_end = body.find('>', p + 11);
                if (arg_name_end == npos || arg_name_end > fn_end)
                    throw ParseError("unclosed <parameter= tag", base + p, body.substr(p, 60));
                const std::size_t value_end = find(body, "</parameter>", arg_name_end);
                if (value_end == npos || value_end > fn_end)
                    throw ParseError("<parameter> has no </parameter>", base + p,
                                     body.substr(p, 60));
                out.arguments.push_back(
                    {canonical_argument(trim(body.substr(p + 11, arg_name_end - p - 11))),
                     body.substr(arg_name_end + 1, value_end - arg_name_end - 1), base + p, false});
                p = value_end + 12;
            }
            pos = fn_end + 11;
            out.calls.push_back(
                {name, body.substr(call_start, pos - call_start), base + call_start, first_argument,
                 static_cast<std::uint32_t>(out.arguments.size() - first_argument)});
        }
        if (next == npos) break;
        block = next;
    }
    if (out.calls.empty())
        throw ParseError("<seed:tool_call> holds no <function=…>", base + first_block,
                         s.substr(first_block, 60));
}

}  // namespace deskpilot::planner::detail
