#!/usr/bin/env bash
# The GPU subset of the benchmarks, as one script that runs in under 8 minutes on a
# machine with one NVIDIA GPU, and records its tables in bench/RESULTS.md.
#
# Install (once, from the repository root; jax is pinned to 0.10.2 in pyproject.toml,
# and the CUDA plugin must match it). The script itself installs nothing:
#
#     pip install -e ".[test,holdem]" "jax[cuda12]==0.10.2"
#
# Run (from anywhere; it cds to the repository root):
#
#     bash bench/gpu_check.sh                 # GPU: ~8 min at most, writes bench/RESULTS.md
#     bash bench/gpu_check.sh --quick         # CPU smoke run (CI), < 1 min, writes a temp file
#     bash bench/gpu_check.sh --out=FILE      # write the sections to FILE instead
#                                             # (relative to the calling directory)
#     bash bench/gpu_check.sh --only=sampled  # only these steps (comma-separated names
#                                             # from the list below; `device` always runs)
#
# Steps, each under its own `timeout` (a step that times out or fails is recorded as
# such in the results file, and the next step still runs):
#
#   device   nvidia-smi (if present) and `jax.devices()`
#   river    bench/holdem.py --configs=river: iterations and seconds to 0.5% and 0.1%
#   turn     of the pot, compile time, it/s, state/game MB, peak RSS and the device's
#   flop     peak bytes in use (`memory_stats()`), one fresh process per config, so
#            each peak is that config's own. The flop gets the most time; holdem.py's
#            --max_seconds stops its solve early enough to print a partial row
#            ("not reached (x% at N)") rather than be killed.
#   flop_whole  the flop again on whole levels (--subtrees=0): more memory, far
#            fewer kernel launches than the default split passes.
#   leduc    bench/speed.py --sections=sizes on `leduc`, then (leduc_big) on the
#   leduc_big largest Leduc variant of the project's GPU series,
#            `leduc(ranks=14,suits=4)` (12,520,257 histories, ~55 s to build on the
#            host): it/s, history-updates/s and device peak bytes per history; its
#            targets table gives the verdict on ">= 1e9 history-updates/s on >= 10M
#            histories".
#   sampled  bench/traversals.py (issue 12): traversals per player per second of
#            ES-MCCFR (Leduc, batches of 1,024 and 16,384), OS-MCCFR (Leduc) and
#            Deep CFR (Leduc, and liar's dice with 2 dice each on the generative
#            env), with compile time and peak device memory. Not in the default
#            run (which the holdem and leduc steps fill): run it alone with
#            --only=sampled (~3 min).
#
# Each step writes its own `## Run:` section (label "gpu_check: <step>, <backend>
# (<device>)", replaced in place on a rerun) with the machine and the exact command;
# nothing is hard-coded. The whole run is capped at 460 s: every step's timeout is cut
# to what is left of that.
#
# --quick: JAX on CPU (JAX_PLATFORMS=cpu), the river for 20 iterations and `leduc`'s
# size row with short timings, into a temporary file (printed at the end) unless
# --out is given. Exit status: 0 when every step ran or timed out (timeouts are
# recorded, not errors); 1 when a step failed; 2 on bad arguments or, without
# --quick or --any-backend, when JAX's backend is not a GPU.
#
# Environment: PYTHON (default: python), GPU_CHECK_STORAGE (holdem state storage,
# e.g. bfloat16; default float32), GPU_CHECK_BIG_LEDUC (default leduc(ranks=14,suits=4)).
set -euo pipefail

quick=0
any_backend=0
out=
only=
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --only=*) only=${arg#--only=} ;;
    --any-backend) any_backend=1 ;;
    --out=*) out=${arg#--out=} ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
known_steps=" river turn flop flop_whole leduc leduc_big sampled "
for name in ${only//,/ }; do
  if [[ "$known_steps" != *" $name "* ]]; then
    echo "gpu_check.sh: unknown step in --only: $name (steps:$known_steps)" >&2; exit 2
  fi
done
if [[ -n "$out" && "$out" != /* ]]; then
  out="$PWD/$out"  # relative to where it was called from
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python}
# This checkout's cfr_jax, whatever `pip install -e` pointed at (speed.py's workers
# would otherwise import the installed one).
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

BUDGET_S=460  # the whole run: 8 minutes less margins for a kill and the last write
storage=${GPU_CHECK_STORAGE:-}
big_leduc=${GPU_CHECK_BIG_LEDUC:-leduc(ranks=14,suits=4)}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
if (( quick )); then
  export JAX_PLATFORMS=cpu
  mode=quick
  if [[ -z "$out" ]]; then
    out="$logdir/results.md"
  fi
else
  mode=full
  out=${out:-bench/RESULTS.md}
fi

echo "# gpu_check.sh ($mode): results into $out; logs in $logdir"

# --- device ----------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout 20 nvidia-smi || echo "nvidia-smi failed (exit $?)"
else
  echo "nvidia-smi: not found"
fi
info_rc=0
timeout 60 "$PY" - >"$logdir/device.txt" <<'EOF' || info_rc=$?
import os, sys
sys.path[:0] = [os.path.join(os.getcwd(), 'bench')]
import jax
import speed
print(jax.devices(), file=sys.stderr)
info = speed.machine()
print(info['backend'])
print(info['device'].split(': ', 1)[-1])
print(f"Machine: {info['cpu']}, {info['cores']} cores, "
      f"{info['memory_gib'] and round(info['memory_gib'])} GiB; JAX {info['jax']} on "
      f"{info['device']} (x{info['devices']}); {info['date']}.")
EOF
if (( info_rc != 0 )); then
  echo "gpu_check.sh: could not start JAX (exit $info_rc)" >&2
  exit 1
fi
backend=$(sed -n 1p "$logdir/device.txt")
device_kind=$(sed -n 2p "$logdir/device.txt")
machine_line=$(sed -n 3p "$logdir/device.txt")
echo "$machine_line"
if [[ "$backend" != gpu ]] && (( ! quick && ! any_backend )); then
  echo "gpu_check.sh: JAX's backend is '$backend', not a GPU; install with" \
       "pip install -e \".[test,holdem]\" \"jax[cuda12]==0.10.2\" (or see bench/README.md" \
       "for a preinstalled CUDA JAX without network), or run --quick" \
       "(CPU smoke run) or --any-backend" >&2
  exit 2
fi

# --- steps -----------------------------------------------------------------
failed=0
summary=()

# record LABEL COMMAND STATUS: a section saying that a step did not finish.
record() {
  local label=$1 command=$2 status=$3
  "$PY" - "$out" "$label" "$command" "$status" "$machine_line" <<'EOF'
import os, sys
sys.path[:0] = [os.path.join(os.getcwd(), 'bench')]
import speed
out, label, command, status, machine = sys.argv[1:]
speed.write_section(out, label, f'{machine}\nCommand: `{command}`.\n\n**{status}** '
                    '(bench/gpu_check.sh); no numbers from this step.\n')
EOF
}

# step NAME TIMEOUT_S COMMAND...: runs COMMAND under `timeout`, cut to the time left.
step() {
  local name=$1 limit=$2
  shift 2
  if [[ -n "$only" && ",$only," != *",$name,"* ]]; then
    return 0  # not asked for (--only)
  fi
  local left=$(( BUDGET_S - SECONDS ))
  if (( left < limit )); then limit=$left; fi
  local label="gpu_check: $name, $backend ($device_kind)"
  local command="$*"
  if (( left < 5 )); then
    echo "== $name: skipped, no time left"
    record "$label" "$command" "skipped: the ${BUDGET_S} s budget was spent"
    summary+=("$name: skipped")
    return 0
  fi
  echo "== $name (timeout ${limit} s): $command"
  local rc=0 start=$SECONDS
  timeout --kill-after=10 "$limit" "$@" --label="$label" --out="$out" 2>&1 \
    | tee "$logdir/$name.log" || rc=$?
  local took=$(( SECONDS - start ))
  local why=
  if (( rc == 0 )) && why=$(grep -m1 '^  subprocess \(failed\|timed out\)' "$logdir/$name.log" \
                        | sed 's/^ *//'); then
    rc=1  # speed.py exits 0 when a worker fails; its table then lacks that game
  elif (( rc != 0 )); then
    why=$(grep -v '^[[:space:]]*$' "$logdir/$name.log" | tail -n1 | sed 's/^ *//' \
          | cut -c1-300 || true)
  fi
  if (( rc == 0 )); then
    summary+=("$name: done in ${took} s")
  elif (( rc == 124 || rc == 137 )); then
    echo "== $name: timed out after ${limit} s"
    record "$label" "$command" "timed out after ${limit} s"
    summary+=("$name: timed out after ${limit} s")
  else
    echo "== $name: failed (exit $rc) after ${took} s"
    record "$label" "$command" "failed (exit $rc) after ${took} s: $why"
    summary+=("$name: failed (exit $rc)")
    failed=1
  fi
}

holdem=("$PY" bench/holdem.py --targets=0.5,0.1 ${storage:+--storage=$storage})
if (( quick )); then
  step river 40 "${holdem[@]}" --configs=river --eval_every=10 --max_iterations=20
  step leduc 40 "$PY" bench/speed.py --quick --sections=sizes --sizes=leduc --min_time=0.05 \
    --repeats=1 --subprocess_timeout=600
  step sampled 60 "$PY" bench/traversals.py --seconds=0.3 --entry='es-mccfr|kuhn|batch_size=64' \
    --entry='deep-cfr|kuhn|traversals=16,advantage_steps=2,policy_steps=2,batch_size=16'
else
  step river 40 "${holdem[@]}" --configs=river --eval_every=10 --max_iterations=5000 \
    --max_seconds=15
  step turn 60 "${holdem[@]}" --configs=turn --eval_every=10 --max_iterations=5000 \
    --max_seconds=30
  # The flop twice: split one turn card at a time (the default for its state:
  # XLA's temporaries 0.09x the state, what the 1.22 GB target needs), and on
  # whole levels (--subtrees=0: temporaries ~2x the state, but ~12x fewer
  # kernel launches: 64,434 kernels per iteration split against 5,104, on
  # XLA:CPU). Which one a GPU's launch overhead favours is what this measures.
  step flop 150 "${holdem[@]}" --configs=flop --eval_every=20 --max_iterations=1000 \
    --max_seconds=75
  step flop_whole 100 "${holdem[@]}" --configs=flop --subtrees=0 --eval_every=20 \
    --max_iterations=1000 --max_seconds=45
  # One step per game, so that a timeout is recorded against the game it hit
  # (speed.py's own --subprocess_timeout would drop the row silently).
  step leduc 30 "$PY" bench/speed.py --sections=sizes --sizes=leduc --min_time=0.5 \
    --repeats=3 --subprocess_timeout=600
  step leduc_big 80 "$PY" bench/speed.py --sections=sizes --sizes="$big_leduc" \
    --min_time=0.5 --repeats=3 --subprocess_timeout=600
  if [[ -n "$only" ]]; then  # its own run: the steps above fill the default's budget
    step sampled 240 "$PY" bench/traversals.py --seconds=8
  fi
fi

echo
echo "# gpu_check.sh ($mode) finished in ${SECONDS} s; sections written to $out:"
printf '  %s\n' "${summary[@]}"
if (( quick )) && [[ "$out" == "$logdir/results.md" ]]; then
  echo
  cat "$out"
fi
exit "$failed"
