#!/usr/bin/env bash
# deskpilot-nano from scratch on the 2-core machine, as one command, in two stages.
#
# 1. The parent: the three data sets of the thirty-eighth to fortieth runs (900 seeds, about 15
#    minutes with 2 jobs), then one run with every auxiliary loss of the committed line, packed and
#    nested, a third of each step's units tasks (--task-share 1/3), with Muon for the hidden matrices
#    (--optimizer muon, the fiftieth run in README.md), on one 1 200-step cosine: about 2 hours at
#    5.8 s a step (the fifty-first run). With AdamW the same run on a 3 000-step cosine did less in
#    4.5 hours (the forty-sixth run).
# 2. Its children: three more data sets of fresh seeds, and on each a 250-step child of the parent's
#    last state at peak lr 2e-4 (the same flags, one thread each, the three side by side: 1.3 times
#    the steps a second of one two-thread run), then their weights averaged into WORK/model (the
#    fifty-second run). About 1.3 hours.
#
# The flags are those of k1 and k2 (the forty-third and forty-fourth runs), written down once here.
#
#   tools/train_nano/train_scratch.sh WORK [more train.py flags for the parent, e.g. --max-seconds 3600]
#
# Running the same command again continues where it stopped: the parent from WORK/run/state.pt (the
# same order of units, the same cosine), each child from WORK/child-X/state.pt, so the hours can be
# split over sittings with --max-seconds. The children start only once the parent's log reaches its
# last step. A data set is made only when WORK/data-X/examples.jsonl is missing; it is written to
# WORK/data-X.part first, so an interrupted one is made again, not used half written. A
# WORK/run/state.pt of the AdamW recipe (before the fifty-first run) is refused by train.py; add
# --optimizer adamw --steps 3000 to finish it. Needs build/bin/deskpilot-sandbox (make build) and
# tools/train_nano/requirements.txt; uses Debian's libjemalloc2 when installed (glibc's allocator
# grows the trainer by gigabytes over a run, the sixteenth run).
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

# make_data_sets "NAME TRAIN-SEEDS VALIDATION-SEEDS MAKE_DATASET-SEED" ...: WORK/data-NAME for each
make_data_sets() {
    local d name train val seed dir
    for d in "$@"; do
        read -r name train val seed _ <<<"$d"
        dir=$work/data-$name
        [ -f "$dir/examples.jsonl" ] && continue
        run rm -rf "$dir.part"
        run python3 "$here/make_dataset.py" --out "$dir.part" --train-seeds "$train" --val-seeds "$val" \
            --jobs 2 --seed "$seed"
        run mv "$dir.part" "$dir"
    done
}

jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if [ -e "$jemalloc" ]; then
    # jemalloc's default decay: the process stays near 2 GB (without decay it grows about 40 MB a
    # step and stalls in swap long before 3 000 steps; the thirty-eighth run).
    export LD_PRELOAD=$jemalloc
fi
# shellcheck source=line_flags.sh
source "$here/line_flags.sh"
tokenizer=$root/models/deskpilot-nano/tokenizer.json
recipe=(--tokenizer "$tokenizer" "${line_flags[@]}" --accumulate 6
    --task-share 1/3 --screenshot-first --pack --episodes --nest-episodes --save-every 25 --optimizer muon)

# Stage 1, the parent. name, training seeds, validation seeds, make_dataset.py's --seed
make_data_sets "s 20300..20599 5002..5005 41" "t 20600..20899 5006..5009 42" "u 20900..21199 5010..5013 46"
steps=1200
run python3 "$here/train.py" --data "$work/data-s,$work/data-t,$work/data-u" --work "$work/run" \
    --out "$work/run/model" "${recipe[@]}" --lr 1e-3 --warmup 20 --seed 49 --steps "$steps" "$@"
# The parent's --steps as train.py reads them (the last one given wins).
while [ $# -gt 0 ]; do
    case $1 in
        --steps) steps=${2:-$steps}; shift ;;
        --steps=*) steps=${1#--steps=} ;;
    esac
    shift
done
if [ -f "$work/run/log.jsonl" ]; then  # none in a dry run of a fresh folder
    last=$(tail -n 1 "$work/run/log.jsonl" | sed -n 's/^{"step": \([0-9]*\),.*/\1/p')
    if [ "$last" != "$steps" ]; then
        echo "The parent stopped at step ${last:-0} of $steps; run the same command again to go on." \
            "Its checkpoint so far is in $work/run/model."
        exit 0
    fi
fi

# Stage 2, the children: name, training seeds, validation seeds, make_dataset.py's --seed, train.py's --seed
children=("v 21200..21499 5014..5017 51 54" "w 21500..21799 5018..5021 52 56" "x 21800..22099 5022..5025 53 58")
make_data_sets "${children[@]}"
pids=()
logs=()
states=()
for c in "${children[@]}"; do
    read -r name _ _ _ seed <<<"$c"
    child=(python3 "$here/train.py" --data "$work/data-$name" --init "$work/run/state.pt" --work "$work/child-$name"
        --out "$work/child-$name/model" "${recipe[@]}" --lr 2e-4 --warmup 10 --seed "$seed" --steps 250 --threads 1)
    states+=("$work/child-$name/state.pt")
    if [ -n "${DESKPILOT_DRY_RUN:-}" ]; then
        run "${child[@]}"
    else
        # Side by side, each writing its own log: their step lines would interleave on one screen.
        log=$work/child-$name.out
        echo "child $name: $log"
        "${child[@]}" >>"$log" 2>&1 &
        pids+=($!)
        logs+=("$log")
    fi
done
failed=()
for i in "${!pids[@]}"; do
    wait "${pids[i]}" || failed+=("${logs[i]}")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "$0: a child run failed, nothing averaged; see ${failed[*]} (the same command again goes on)" >&2
    exit 1
fi
run python3 "$here/average_states.py" "${states[@]}" -o "$work/children.pt"
run python3 "$here/export_state.py" "$work/children.pt" "$work/model" --tokenizer "$tokenizer"
cat <<EOF
The checkpoint is in $work/model (the parent's alone: $work/run/model). Its scores:
  $root/build/bin/deskpilot eval grounding --model-dir $work/model --seeds 0..49 -o $work/eval-grounding.json
  $root/build/bin/deskpilot eval tasks --model-dir $work/model -o $work/eval-tasks.json
EOF
