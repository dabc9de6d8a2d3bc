#!/usr/bin/env bash
# deskpilot-nano from scratch on the 2-core machine, as one command: the three data sets of the
# thirty-eighth to fortieth runs (900 seeds, about 15 minutes with 2 jobs), then one run with every
# auxiliary loss of the committed line, packed and nested, a third of each step's units tasks
# (--task-share 1/3), with Muon for the hidden matrices (--optimizer muon, the fiftieth run in
# README.md), on one 1 200-step cosine: about 2 hours at 5.8 s a step (the fifty-first run). With
# AdamW the same run on a 3 000-step cosine did less in 4.5 hours (the forty-sixth run). The
# flags are those of k1 and k2 (the forty-third and forty-fourth runs), so that the recipe is
# written down once and not as "j1's command with ...".
#
#   tools/train_nano/train_scratch.sh WORK [more train.py flags, e.g. --max-seconds 3600]
#
# Running the same command again continues from WORK/run/state.pt (the same order of units, the same
# cosine), so the 2 hours can be split over sittings with --max-seconds. A data set is made only
# when WORK/data-X/examples.jsonl is missing; it is written to WORK/data-X.part first, so an
# interrupted one is made again, not used half written. A WORK/run/state.pt of the AdamW recipe
# (before the fifty-first run) is refused by train.py; add --optimizer adamw --steps 3000 to finish
# it. Needs build/bin/deskpilot-sandbox (make build) and tools/train_nano/requirements.txt; uses
# Debian's libjemalloc2 when installed (glibc's allocator grows the trainer by gigabytes over a run,
# the sixteenth run).
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 WORK [train.py flags]" >&2
    exit 2
fi
work=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# DESKPILOT_DRY_RUN=1: print the commands instead of running them.
run() {
    if [ -n "${DESKPILOT_DRY_RUN:-}" ]; then
        printf '%q ' "$@"
        echo
    else
        "$@"
    fi
}

# name, training seeds, validation seeds, make_dataset.py's --seed
datasets=("s 20300..20599 5002..5005 41" "t 20600..20899 5006..5009 42" "u 20900..21199 5010..5013 46")
data=()
for d in "${datasets[@]}"; do
    read -r name train val seed <<<"$d"
    dir=$work/data-$name
    data+=("$dir")
    [ -f "$dir/examples.jsonl" ] && continue
    run rm -rf "$dir.part"
    run python3 "$here/make_dataset.py" --out "$dir.part" --train-seeds "$train" --val-seeds "$val" \
        --jobs 2 --seed "$seed"
    run mv "$dir.part" "$dir"
done

jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if [ -e "$jemalloc" ]; then
    # jemalloc's default decay: the process stays near 2 GB (without decay it grows about 40 MB a
    # step and stalls in swap long before 3 000 steps; the thirty-eighth run).
    export LD_PRELOAD=$jemalloc
fi
data_list=$(IFS=,; echo "${data[*]}")
# shellcheck source=line_flags.sh
source "$here/line_flags.sh"
run python3 "$here/train.py" --data "$data_list" --tokenizer "$root/models/deskpilot-nano/tokenizer.json" \
    --work "$work/run" --out "$work/run/model" "${line_flags[@]}" --accumulate 6 --lr 1e-3 --warmup 20 \
    --seed 49 --task-share 1/3 --screenshot-first --pack --episodes --nest-episodes --save-every 25 \
    --optimizer muon --steps 1200 "$@"
cat <<EOF
The checkpoint is in $work/run/model (written at the end and at a --max-seconds stop). Its scores:
  $root/build/bin/deskpilot eval grounding --model-dir $work/run/model --seeds 0..49 -o $work/eval-grounding.json
  $root/build/bin/deskpilot eval tasks --model-dir $work/run/model -o $work/eval-tasks.json
EOF
