#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for the queue test (root only, no systemd,
# no cgroups): configures munge and Slurm if they are not configured yet, then starts
# munged, slurmctld and slurmd if they are not running. Idempotent.
#
#   scripts/slurm-local.sh          configure and start; prints the partition
#   scripts/slurm-local.sh stop     stop the three daemons
#
# Needs Debian's slurm-wlm and munge (`./dev.sh slurm` installs them and runs this).
# The node advertises SLURM_LOCAL_CPUS CPUs (default 8, more than the cores, so that a
# 3-rank MPI refinement fits one job; slurmd accepts it through config_overrides).
set -euo pipefail
CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)
CPUS=${SLURM_LOCAL_CPUS:-8}
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)

if [ "$(id -u)" != 0 ]; then
    echo "slurm-local.sh: must run as root (it writes $CONF and starts the daemons)" >&2
    exit 2
fi
for exe in munged slurmctld slurmd sbatch; do
    command -v "$exe" >/dev/null || { echo "slurm-local.sh: $exe not found; apt-get install slurm-wlm munge" >&2; exit 2; }
done

if [ "${1:-}" = stop ]; then
    pkill -x slurmd || true
    pkill -x slurmctld || true
    pkill -x munged || true
    echo "slurm-local: stopped"
    exit 0
fi

if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown munge:munge /run/munge /var/log/munge /var/lib/munge

if [ ! -f "$CONF" ] || ! grep -q '^# relion_dem single-node' "$CONF"; then
    cat > "$CONF" <<EOF
# relion_dem single-node cluster (scripts/slurm-local.sh)
ClusterName=relion_dem
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$NODE CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
fi

pgrep -x munged >/dev/null || munged --force 2>/dev/null
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "slurm-local: partition $(sinfo -h -o '%P %D node(s) %c CPUs %T')"
        exit 0
    fi
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/slurmd.log and slurmctld.log" >&2
sinfo >&2 || true
exit 1
