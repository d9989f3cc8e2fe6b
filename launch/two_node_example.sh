#!/bin/bash
# One run over two jax.distributed processes, on this machine.
#
#   launch/two_node_example.sh [workdir] [--config.field=value ...]
#
# Each process gets 2 simulated CPU devices; the state is sharded over all 4,
# each process saves its own shards, and process 0 writes progress.json and
# metrics. Ctrl-C reaches both (or send SIGTERM, JAX's preemption notice, to
# either): both save the same iteration and exit 75; run it again to resume.
#
# On two machines, run the same command line on each, with a shared workdir,
# process_id 0 and 1, and process 0's address (see launch/slurm_multinode.sbatch):
#   python -m launch.train --config=configs/leduc.py --workdir=/shared/run \
#     --config.distributed.enabled=true --config.distributed.num_processes=2 \
#     --config.distributed.coordinator_address=hostA:12345 --config.distributed.process_id=0
set -u
WORKDIR=${1:-runs/two_processes}
shift 2>/dev/null
PORT=${PORT:-$(python -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')}
export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=2" JAX_PLATFORMS=cpu

PIDS=()
for ID in 0 1; do
  python -m launch.train --config=configs/kuhn.py --workdir="$WORKDIR" \
    --config.distributed.enabled=true --config.distributed.num_processes=2 \
    --config.distributed.coordinator_address="localhost:$PORT" \
    --config.distributed.process_id=$ID "$@" &
  PIDS+=($!)
done
CODE=0
for PID in "${PIDS[@]}"; do
  # wait returns early (>128) when a signal arrives: wait again for the real code.
  wait "$PID"; C=$?
  while kill -0 "$PID" 2>/dev/null; do wait "$PID"; C=$?; done
  [ "$C" -gt "$CODE" ] && CODE=$C
done
echo "processes exited; code $CODE (0 complete, 75 interrupted: run again to resume)"
exit "$CODE"
