#!/usr/bin/env bash
# One child run of the committed line (the runs since the twenty-eighth, "jK's flags"): 200 steps
# at peak lr 5e-5 from a state or checkpoint, on one data set, with every auxiliary loss the
# committed checkpoint was trained with (line_flags.sh, shared with train_scratch.sh). The flags are
# written down in files because the README's command lines had come to say "(the same flags)"
# through eight runs, and the machine that knew them was lost.
#
#   tools/train_nano/train_child.sh DATA INIT WORK SEED [more train.py flags, e.g. --steps 100]
#
# INIT is a state.pt or a checkpoint folder (models/deskpilot-nano, whose training_heads.safetensors
# carries the auxiliary heads). jemalloc (Debian's libjemalloc2) is used when installed: glibc's
# allocator grows the trainer by gigabytes over a run (the sixteenth run). Its setting here never
# hands pages back (faster steps), so the process grows by about 40 MB a step: a run much longer
# than 200 steps must be resumed from its state.pt every 200 steps or so, or it fills 24 GB and
# stalls in swap (the twenty-second and thirty-eighth runs).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 DATA INIT WORK SEED [train.py flags]" >&2
    exit 2
fi
data=$1 init=$2 work=$3 seed=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if [ -e "$jemalloc" ]; then
    export LD_PRELOAD=$jemalloc MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1,thp:always
fi
# shellcheck source=line_flags.sh
source "$here/line_flags.sh"
command=(python3 "$here/train.py" --data "$data" --tokenizer "$here/../../models/deskpilot-nano/tokenizer.json"
    --init "$init" --work "$work" --out "$work/model" "${line_flags[@]}" --accumulate 8
    --lr 5e-5 --warmup 10 --steps 200 --seed "$seed" "$@")
# DESKPILOT_DRY_RUN=1: print the command instead of running it.
if [ -n "${DESKPILOT_DRY_RUN:-}" ]; then
    printf '%q ' "${command[@]}"
    echo
    exit 0
fi
exec "${command[@]}"
