#!/usr/bin/env bash
# deskpilot-nano from scratch on the 2-core machine, as one command, in six stages. Every run does
# Muon's Newton-Schulz in bfloat16 (--muon-dtype bfloat16: each step 0.87 to 0.93 times as long as
# in float32, and as good; the fifty-seventh to sixtieth runs in README.md).
#
# 1. The parent: the three data sets of the thirty-eighth to fortieth runs (900 seeds, about 5
#    minutes), then one run with every auxiliary loss of the committed line, packed and
#    nested, a third of each step's units tasks (--task-share 1/3), with Muon for the hidden matrices
#    (--optimizer muon, the fiftieth run in README.md), on one 1 200-step cosine: about 1.75 hours at
#    5.0 s a step (the fifty-ninth run). With AdamW the same run on a 3 000-step cosine did less in
#    4.5 hours (the forty-sixth run).
# 2. Its children: two more data sets of fresh seeds, and on each a 250-step child of the parent's
#    last state at peak lr 2e-4 (the same flags, one thread each, the two side by side, one a
#    core), their weights averaged half and half into WORK/children.pt (the fifty-second and
#    sixtieth runs). About 34 to 39 minutes (the data sets 3 minutes of it).
# 3. The grandchildren: the same again from the children's average, on a second round of fresh
#    seeds, averaged into WORK/grandchildren.pt (the fifty-third and fifty-eighth runs).
# 4. The great-grandchildren: the same again from the grandchildren's average, on a third round of
#    fresh seeds, averaged into WORK/great-grandchildren.pt (the fifty-fourth run).
# 5. The great-great-grandchildren: the same again from the great-grandchildren's average, on a
#    fourth round of fresh seeds, averaged into WORK/great-great-grandchildren.pt (the fifty-fifth
#    run).
# 6. The great-great-great-grandchildren: the same again from that average, on a fifth round of
#    fresh seeds, averaged into WORK/model (the fifty-sixth and sixtieth runs). Each stage 34 to 39
#    minutes; the whole command about 4.9 hours from scratch (7.2 with three float32 runs a stage).
#
# The flags are those of k1 and k2 (the forty-third and forty-fourth runs), written down once here.
#
#   tools/train_nano/train_scratch.sh WORK [more train.py flags for the parent, e.g. --max-seconds 3600]
#
# Running the same command again continues where it stopped: the parent from WORK/run/state.pt (the
# same order of units, the same cosine), each descendant from its own state.pt, so the hours can be
# split over sittings with --max-seconds. A stage whose average (WORK/children.pt, ...) is there is
# done and skipped; delete the average to train that stage again. The children start only once the
# parent's log reaches its last step. A data set is made only when WORK/data-X/examples.jsonl is
# missing; it is written to WORK/data-X.part first, so an interrupted one is made again, not used
# half written. A WORK/run/state.pt of the AdamW recipe (before the fifty-first run) is refused by
# train.py; add --optimizer adamw --steps 3000 to finish it. Needs build/bin/deskpilot-sandbox (make
# build) and tools/train_nano/requirements.txt; uses Debian's libjemalloc2 when installed (glibc's
# allocator grows the trainer by gigabytes over a run, the sixteenth run).
#
# DESKPILOT_EVERY_RUN="flags": train.py flags for every run of the command, the parent and each
# descendant, after the recipe's (so they win), e.g. "--autocast" for a line in bf16 autocast (the
# sixty-third run). The flags after WORK go to the parent only. Give the same value at every sitting.
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

# Sandboxes rendering at once: four a core. A render mostly waits (100 ms for the window, 120 ms a
# replayed step, its CPU about a quarter of its time), so two jobs on two cores left them idle: a
# set of 300 seeds took 302 s with --jobs 2 and 87 s with --jobs 8, the same bytes (the
# fifty-seventh run).
data_jobs=$((4 * $(nproc)))

# make_data_sets "NAME TRAIN-SEEDS VALIDATION-SEEDS MAKE_DATASET-SEED" ...: WORK/data-NAME for each
make_data_sets() {
    local d name train val seed dir
    for d in "$@"; do
        read -r name train val seed _ <<<"$d"
        dir=$work/data-$name
        [ -f "$dir/examples.jsonl" ] && continue
        run rm -rf "$dir.part"
        run python3 "$here/make_dataset.py" --out "$dir.part" --train-seeds "$train" --val-seeds "$val" \
            --jobs "$data_jobs" --seed "$seed"
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
    --task-share 1/3 --screenshot-first --pack --episodes --nest-episodes --save-every 25 --optimizer muon
    --muon-dtype bfloat16)
# Word-split on purpose: a list of flags in one variable.
# shellcheck disable=SC2206
recipe+=(${DESKPILOT_EVERY_RUN:-})

# Stage 1, the parent. name, training seeds, validation seeds, make_dataset.py's --seed
make_data_sets "s 20300..20599 5002..5005 41" "t 20600..20899 5006..5009 42" "u 20900..21199 5010..5013 46"
steps=1200
run python3 "$here/train.py" --data "$work/data-s,$work/data-t,$work/data-u" --work "$work/run" \
    --out "$work/run/model" "${recipe[@]}" --lr 1e-3 --warmup 20 --seed 49 --steps "$steps" "$@"
# The parent's --steps as train.py reads them: the last one given wins, and none is abbreviated.
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

# generation KIND INIT OUT "NAME TRAIN-SEEDS VALIDATION-SEEDS MAKE_DATASET-SEED TRAIN-SEED" ...: a data
# set of fresh seeds for each, then on each a 250-step run from INIT's weights (WORK/KIND-NAME, the
# parent's recipe at a peak lr of 2e-4, one thread each, side by side), their states averaged into OUT.
generation() {
    local kind=$1 init=$2 out=$3 name seed run_dir log i
    shift 3
    if [ -f "$out" ]; then
        # Written only once every run reached its last step (average_states.py renames it into
        # place), so the stage is done: its runs are not started again just to load and stop.
        echo "$kind: $out is there, the stage is done (delete it to train the stage again)"
        return
    fi
    make_data_sets "$@"
    local pids=() logs=() states=() failed=()
    for c in "$@"; do
        read -r name _ _ _ seed <<<"$c"
        run_dir=$work/$kind-$name
        local train=(python3 "$here/train.py" --data "$work/data-$name" --init "$init" --work "$run_dir"
            --out "$run_dir/model" "${recipe[@]}" --lr 2e-4 --warmup 10 --seed "$seed" --steps 250 --threads 1)
        states+=("$run_dir/state.pt")
        if [ -n "${DESKPILOT_DRY_RUN:-}" ]; then
            run "${train[@]}"
        else
            # Side by side, each writing its own log: their step lines would interleave on one screen.
            log=$run_dir.out
            echo "$kind $name: $log"
            "${train[@]}" >>"$log" 2>&1 &
            pids+=($!)
            logs+=("$log")
        fi
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" || failed+=("${logs[i]}")
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "$0: a $kind run failed, nothing averaged; see ${failed[*]} (the same command again goes on)" >&2
        exit 1
    fi
    run python3 "$here/average_states.py" "${states[@]}" -o "$out"
}

# Stage 2, the children of the parent's last state: name, training seeds, validation seeds,
# make_dataset.py's --seed, train.py's --seed
generation child "$work/run/state.pt" "$work/children.pt" \
    "v 21200..21499 5014..5017 51 54" "w 21500..21799 5018..5021 52 56"
# Stage 3, the grandchildren: children of the children's average, on a second round of fresh seeds.
generation grandchild "$work/children.pt" "$work/grandchildren.pt" \
    "y 22100..22399 5026..5029 61 64" "z 22400..22699 5030..5033 62 66"
# Stage 4, the great-grandchildren: children of the grandchildren's average, on a third round.
generation great-grandchild "$work/grandchildren.pt" "$work/great-grandchildren.pt" \
    "b 23000..23299 5038..5041 71 74" "c 23300..23599 5042..5045 72 76"
# Stage 5, the great-great-grandchildren: children of the great-grandchildren's average, on a
# fourth round.
generation great-great-grandchild "$work/great-grandchildren.pt" "$work/great-great-grandchildren.pt" \
    "e 23900..24199 5050..5053 81 84" "f 24200..24499 5054..5057 82 86"
# Stage 6, the great-great-great-grandchildren: children of that average, on a fifth round.
generation great-great-great-grandchild "$work/great-great-grandchildren.pt" \
    "$work/great-great-great-grandchildren.pt" \
    "h 24800..25099 5062..5065 91 94" "i 25100..25399 5066..5069 92 96"
run python3 "$here/export_state.py" "$work/great-great-great-grandchildren.pt" "$work/model" \
    --tokenizer "$tokenizer"
cat <<EOF
The checkpoint is in $work/model, the great-great-great-grandchildren's average (each earlier
stage's: $work/great-great-grandchildren.pt, $work/great-grandchildren.pt, $work/grandchildren.pt,
$work/children.pt; the parent's alone: $work/run/model).
Its scores:
  $root/build/bin/deskpilot eval grounding --model-dir $work/model --seeds 0..49 -o $work/eval-grounding.json
  $root/build/bin/deskpilot eval tasks --model-dir $work/model -o $work/eval-tasks.json
EOF
