#!/bin/sh
# Builds the planner parser's libFuzzer target with clang, ASan and UBSan, into build-fuzz/.
#   tools/fuzz/build-planner-fuzzer.sh && build-fuzz/planner_parser_fuzzer -max_total_time=600 \
#       -timeout=5 build-fuzz/corpus tests/fuzz/planner
# Afterwards keep a small corpus: build-fuzz/planner_parser_fuzzer -merge=1 NEW_DIR build-fuzz/corpus
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build-fuzz"
mkdir -p "$out/corpus"
flags="-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root"
clang++ $flags \
  "$root/tests/fuzz/planner_parser_fuzzer.cpp" \
  "$root"/planner/coordinates.cpp "$root"/planner/family.cpp "$root"/planner/parse_error.cpp \
  "$root"/planner/parser.cpp "$root"/planner/python_call.cpp "$root"/planner/python_string.cpp \
  "$root"/planner/response_grammar.cpp "$root"/planner/seed_tool_call.cpp \
  "$root"/planner/step.cpp "$root"/planner/action.cpp "$root"/vision/smart_resize.cpp \
  -o "$out/planner_parser_fuzzer"
echo "$out/planner_parser_fuzzer"
