#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for CI and for trying `reproduce --executor slurm` by hand:
# this machine is the only node; config, state, logs and munge's key and socket all live in one
# directory, so nothing under /etc is touched and `stop` leaves the machine as it was.
#
#   scripts/slurm/cluster.sh start [DIR]   write DIR/slurm.conf, start munged, slurmctld, slurmd; wait for the node
#   scripts/slurm/cluster.sh stop  [DIR]   stop the three daemons (by the pids they wrote into DIR)
#   eval "$(scripts/slurm/cluster.sh env [DIR])"   point sbatch/squeue/scancel at DIR/slurm.conf
#
# DIR defaults to $SLURM_CI_DIR, else /tmp/slurm-ci. Needs root (slurmd runs jobs as their user) and
# Debian's slurm-wlm and munge packages.
set -euo pipefail

cmd=${1:-}
dir=${2:-${SLURM_CI_DIR:-/tmp/slurm-ci}}

die() { echo "slurm/cluster.sh: $*" >&2; exit 1; }

write_conf() {
  local host cpus mem_mb
  host=$(hostname -s)
  # slurmd refuses to register if the node claims more CPUs or memory than it has.
  cpus=$(nproc)
  mem_mb=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=ci
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: the CI machine (a VM or container) may not delegate them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd, so sacct has nothing to read; reproduce falls back to squeue and the cell records.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# Finished jobs stay visible to squeue/scontrol for 5 minutes, long enough for reproduce to read their state.
MinJobAge=300
# A job whose dependency failed is removed at once rather than left pending forever.
DependencyParameters=kill_invalid_depend
ReturnToService=2
SlurmdTimeout=60
KillWait=10
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
}

case "$cmd" in
  start)
    [ "$(id -u)" = 0 ] || die "start needs root (slurmd runs each job as its user)"
    for b in munged mungekey slurmctld slurmd sbatch; do command -v "$b" >/dev/null || die "$b not found: apt-get install slurm-wlm munge"; done
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    chmod 700 "$dir/munge"
    [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    chmod 600 "$dir/munge/munge.key"
    write_conf
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
      --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    # The node registers within a few seconds; jobs submitted before that would just wait, but a broken
    # config shows up here with the daemons' own words instead of as a hang later.
    for _ in $(seq 60); do
      state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
      case "$state" in idle*|mixed*|allocated*) echo "slurm: node $(hostname -s) $state (conf $SLURM_CONF)"; exit 0 ;; esac
      sleep 1
    done
    echo "slurm: node did not come up (state '${state:-none}'); last log lines:" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munge/munged.log" >&2 || true
    exit 1
    ;;
  stop)
    # Each daemon wrote its pid into DIR; only those processes are signalled.
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
      [ -s "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    done
    echo "slurm: daemons in $dir stopped"
    ;;
  env)
    echo "export SLURM_CONF=$dir/slurm.conf"
    ;;
  *)
    die "usage: $0 start|stop|env [DIR]"
    ;;
esac
