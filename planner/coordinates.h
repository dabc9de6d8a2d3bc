// A coordinate argument as models write it, in the model's own space (before family mapping):
//   (x,y)  (x1,y1,x2,y2)  [x1, y1, x2, y2]  (x1,y1)(x2,y2)  <|box_start|>(x,y)<|box_end|>
//   <point>x y</point>  <bbox>x1 y1 x2 y2</bbox>  with decimals and spaces anywhere.
// A box means its centre.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace deskpilot::planner {

struct ModelPoint {
    double x = 0;
    double y = 0;
};

// nullopt and a reason in *problem when the text is not 2 or 4 numbers.
std::optional<ModelPoint> parse_model_point(std::string_view value, std::string* problem);
// The same for the parser's hot path: false (and *problem) when the text is not 2 or 4 numbers.
// (A returned std::optional is written to the stack in pieces and read back whole.)
bool parse_model_point(std::string_view value, ModelPoint* point, std::string* problem);

}  // namespace deskpilot::planner
