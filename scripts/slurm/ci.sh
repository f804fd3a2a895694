#!/usr/bin/env bash
# CI for issue 19: the quick study through `reproduce --executor slurm` on a real single-node Slurm that this
# script starts (scripts/slurm/cluster.sh) and always stops again, even when a check fails.
#
#   scripts/slurm/ci.sh REFERENCE_REPORT LOCAL_RUNS
#
# REFERENCE_REPORT is the report directory of a local `reproduce --quick` (its results.md is the reference),
# LOCAL_RUNS the runs directory that run used (its cell records give the reference for the subset below).
#
# 1. The whole quick graph on an empty runs directory, so every cell really runs as a Slurm job:
#    results.md must be byte-identical to the local run's.
# 2. Faults, on a subset of the quick graph (BadNets; FT and FST; RA and LMC; no QRA) whose runs directory
#    starts with hard links to test 1's data, poison and model artifacts, so that only the defenses and the
#    analyses compute: one running job (FST's purification) is cancelled with scancel mid-computation; its
#    dependants must be killed by Slurm (never runnable), the first pass must fail; rerunning the same command
#    must resubmit only the missing cells and give a results.md byte-identical to the local run's for the
#    same subset.
set -euo pipefail
cd "$(dirname "$0")/../.."

ref=${1:?usage: scripts/slurm/ci.sh REFERENCE_REPORT LOCAL_RUNS}
local_runs=${2:?usage: scripts/slurm/ci.sh REFERENCE_REPORT LOCAL_RUNS}
[ -s "$ref/results.md" ] || { echo "slurm ci: $ref/results.md is missing: run the local quick study first" >&2; exit 1; }
[ -d "$local_runs/cell" ] || { echo "slurm ci: $local_runs has no cell records: run the local quick study first" >&2; exit 1; }

work=$(mktemp -d /tmp/slurm-ci.XXXXXX)
cluster=$work/cluster
stop() { scripts/slurm/cluster.sh stop "$cluster" || true; }
trap stop EXIT
scripts/slurm/cluster.sh start "$cluster"
export SLURM_CONF=$cluster/slurm.conf

cli=(node dist/cli.js)
t_all=$SECONDS

echo "== slurm test 1: the quick study, every cell a Slurm job"
t=$SECONDS
"${cli[@]}" reproduce --executor slurm --quick --runs-dir "$work/runs1" --out "$work/report1" --no-images --poll 2 --job-prefix ci1-
echo "slurm test 1: $((SECONDS - t))s wall"
cmp "$ref/results.md" "$work/report1/results.md"
echo "slurm test 1: results.md byte-identical to $ref/results.md"
grep -c '| computed | ' "$work/report1/cells.md" | sed 's/^/slurm test 1: cells computed as jobs: /'

echo "== slurm test 2: scancel a running job, rerun"
t=$SECONDS
subset=(--quick --attacks badnets --defenses FT,BTI --no-qra)
mkdir -p "$work/runs2"
for stage in data poison model evaluation; do cp -al "$work/runs1/$stage" "$work/runs2/"; done
"${cli[@]}" reproduce --report-only "${subset[@]}" --runs-dir "$local_runs" --out "$work/ref2" --no-images >/dev/null
# BTI: the slowest quick cell (~50 s on either engine), so the cancel lands while it runs; FST took 2 s on the
# native engine and finished before the cancel.
target=purify/badnets/s0/BTI
"${cli[@]}" reproduce --executor slurm "${subset[@]}" --runs-dir "$work/runs2" --out "$work/report2a" --no-images --poll 1 --job-prefix ci2- \
  > "$work/pass1.log" 2>&1 &
pass1=$!
job=''
for _ in $(seq 600); do
  job=$(squeue -h -n "ci2-${target//\//.}" -t RUNNING -o %i | head -1)
  [ -n "$job" ] && break
  sleep 0.5
done
[ -n "$job" ] || { cat "$work/pass1.log"; echo "slurm test 2: $target never started" >&2; exit 1; }
# Long enough for the job to load its inputs and be computing; far short of its end (~50 s).
sleep 4
scancel "$job"
echo "slurm test 2: cancelled job $job ($target) while running"
rc=0
wait "$pass1" || rc=$?
cat "$work/pass1.log"
[ "$rc" = 1 ] || { echo "slurm test 2: the first pass should fail (exit 1), got $rc" >&2; exit 1; }
grep -q "never runnable retune/badnets/s0/BTI" "$work/pass1.log" || { echo "slurm test 2: BTI's RA job was not killed as never runnable" >&2; exit 1; }
ls -d "$work"/runs2/purify/.tmp-* 2>/dev/null | sed 's/^/slurm test 2: left half-written by the cancelled job (never read): /' || true
"${cli[@]}" reproduce --executor slurm "${subset[@]}" --runs-dir "$work/runs2" --out "$work/report2" --no-images --poll 1 --job-prefix ci2- \
  2>&1 | tee "$work/pass2.log"
grep -q ", 4 submitted " "$work/pass2.log" || { echo "slurm test 2: the rerun should submit exactly the cancelled job and its three dependants (RA, LMC, BEC)" >&2; exit 1; }
cmp "$work/ref2/results.md" "$work/report2/results.md"
echo "slurm test 2: $((SECONDS - t))s wall; results.md byte-identical to the local run's for the same subset"
echo "slurm CI: $((SECONDS - t_all))s in all"
