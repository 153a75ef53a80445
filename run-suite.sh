#!/usr/bin/env bash
# Run the asv suite on this machine, save the results under .asv/results, write the report.
#
#   bash run-suite.sh           the full default grid (about 5 minutes on 2 cores)
#   bash run-suite.sh --quick   a first look: 64 B and 64 KiB, 1x1 and 4x4, one sample each
#
# Everything else on the command line goes to `asv run` (e.g. -b Latency).
set -euo pipefail
cd "$(dirname "$0")"

quick=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then quick=1; else args+=("$arg"); fi
done

python -m pip install --quiet --disable-pip-version-check -e '.[all]'
asv machine --yes > /dev/null        # records this machine's cpu, cores and memory
commit=$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)

if [ "$quick" = 1 ]; then
  # Every backend, a quarter of the grid, one sample per point.
  args=(--quick
        -b "Throughput.time_batch\('[^']+', (64|65536), '(1x1|4x4)'\)"
        -b "Latency.track_rtt_p(50|99)_us\('[^']+', (64|65536)\)"
        "${args[@]+"${args[@]}"}")
fi

status=0
asv run --python=same --set-commit-hash "$commit" --show-stderr "${args[@]+"${args[@]}"}" \
  || status=$?
# asv records no library versions for an existing environment: the report reads them here.
machine_dir=".asv/results/$(python -c 'import platform; print(platform.node())')"
if [ -d "$machine_dir" ]; then
  python -m backends.measure.machine --commit "$commit" > "$machine_dir/ipc-bench-environment.json"
  # Each backend's declared largest payload: the report tells skipped points above it apart.
  python -m backends list --json > "$machine_dir/ipc-bench-backends.json"
fi
# asv exits 2 when some benchmark failed: the report still shows every point that passed.
ipc-bench report --results .asv/results --out report || status=$?
echo "asv results: .asv/results   asv's own site: asv publish && asv preview"
exit "$status"
