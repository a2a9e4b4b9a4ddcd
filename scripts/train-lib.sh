# shellcheck shell=bash disable=SC2034  # sourced; sets the caller's variables
# train-lib.sh - what the training scripts share (sourced by train-model.sh,
# train-conll.sh and train-social.sh, from the repository root; the
# functions below read $threads and $persona when they run).

# common_option ARG...: the options every training script takes, called from
# the default branch of the script's own option loop: --runs DIR, --threads
# N, -h/--help (prints the script's header comment and exits 0); sets
# $shift_by for the caller's shift; any other option: a message and exit 2.
common_option() {
  case $1 in
    --runs) runs=$2; shift_by=2 ;;
    --threads) threads=$2; shift_by=2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "$(basename "$0"): unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
}

# Builds the CLI when it is missing and sets $persona to it.
need_persona() {
  [ -x build/cli/persona ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j"$(nproc)"; }
  persona=build/cli/persona
}

# mlm_checkpoint RECIPE RUN START UPDATE [ARG...]: makes RUN-UPDATE, the
# checkpoint of update UPDATE of `persona train mlm --recipe RECIPE --out RUN
# [ARG...]`, started from START (--init) or resumed when RUN has a
# checkpoint; kept when it exists.
mlm_checkpoint() {
  local recipe=$1 run=$2 start=$3 update=$4 ck resume
  shift 4
  [ -d "$run-$update" ] && return 0
  ck=$(printf "ckpt-%08d" "$update")
  resume=(--init "$start")
  [ -f "$run/latest" ] && resume=(--resume)
  [ -d "$run/$ck" ] || $persona train mlm --recipe "$recipe" --out "$run" "${resume[@]}" "$@" --threads "$threads"
  [ -d "$run/$ck" ] || { echo "$(basename "$0"): $run has no $ck (it went past update $update and pruned it)" >&2; exit 1; }
  cp -r "$run/$ck" "$run-$update"
}
