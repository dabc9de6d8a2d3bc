# The auxiliary losses and settings every run of the committed line is trained with, sourced by
# train_child.sh and train_scratch.sh so that the list is written once: it had been copied into
# both, where a loss added to one would silently be missing from the other. Each script adds what
# differs (--accumulate, the lr and its schedule, --init or the packed task units).
# shellcheck shell=bash
line_flags=(
    --kinds grounding,task --parse-aux --label-aux 0.3 --contrast-aux 1 --contrast-bank
    --attend-aux 2 --attend-split 0,2 --copy-aux 3 --copy-sigma 4 --position-aux 0.5
    --number-sigma 2 --group 8 --attend-tasks --place-tasks --text-copy-aux 0.5
    --pointer-blend --pointer-own --pointer-own-rows --threads 2 --no-autocast
)
