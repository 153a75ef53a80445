#!/usr/bin/env bash
# Run the asv suite on this machine, save the results under .asv/results, write the report.
#
#   bash run-suite.sh                the full default grid (time on 2 cores: README)
#   bash run-suite.sh --quick        a first look: 64 B and 64 KiB, 1x1 and 4x4, no work, one sample each
#   bash run-suite.sh --pin spread   workers pinned: spread, shared or none (the default)
#   bash run-suite.sh --label NAME   keep this run's results apart, as asv machine <host>-NAME
#   bash run-suite.sh --no-install   use the ipc-bench already installed (or ASV_PYTHONPATH)
#   bash run-suite.sh --config FILE  another asv configuration (its results_dir; the report goes
#                                    to report/ beside FILE)
#
# Everything else on the command line goes to `asv run` (e.g. -b Latency).
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "run-suite.sh: error: $1" >&2; exit 2; }

quick=0
install=1
config=asv.conf.json
pin=none
label=
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    --config) [ $# -ge 2 ] || usage "--config needs a file"; config=$2; shift ;;
    --pin) [ $# -ge 2 ] || usage "--pin needs a value: spread, shared or none"; pin=$2; shift ;;
    --pin=*) pin=${1#--pin=} ;;
    --label) [ $# -ge 2 ] || usage "--label needs a name"; label=$2; shift ;;
    --label=*) label=${1#--label=} ;;
    *) args+=("$1") ;;
  esac
  shift
done
case "$pin" in
  none|spread|shared) ;;
  *) usage "--pin must be one of none, spread, shared, not '$pin'" ;;
esac
if [ -n "$label" ] && ! [[ "$label" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$ ]]; then
  usage "bad --label '$label': letters, digits, '.', '_' and '-', starting with a letter or digit, at most 40"
fi

# The Redis backends need Debian's redis-server besides redis-py; without it they are skipped.
if ! command -v redis-server > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server > /dev/null
  else
    echo "run-suite.sh: redis-server is not installed, so the redis-list and redis-stream" \
         "benchmarks are skipped; to measure them: sudo apt-get install redis-server" >&2
  fi
fi

if [ "$install" = 1 ]; then
  python -m pip install --quiet --disable-pip-version-check -e '.[all]'
fi
commit=$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)
host=$(python -c 'import platform; print(platform.node())')
machine=$host${label:+-$label}
asv machine --yes --config "$config" > /dev/null   # records this machine's cpu, cores, memory
if [ -n "$label" ]; then
  # A labelled run is its own asv machine: asv keys results by machine, commit and environment,
  # so `asv publish`, `asv compare` and `ipc-bench report` all see it as a separate set.
  python -c 'import sys
from asv.machine import Machine, MachineCollection
MachineCollection.save(sys.argv[1], {**Machine.get_defaults(), "machine": sys.argv[1]})' "$machine"
fi

results=$(python -c 'import sys; from asv.config import Config
print(Config.load(sys.argv[1]).results_dir)' "$config")
# The environment record lies outside the results tree: asv reads every JSON file there.
sidecars=$(dirname "$results")/ipc-bench-environment
for earlier in "$results/$machine/${commit:0:8}"-*.json; do
  if [ -e "$earlier" ]; then
    echo "run-suite.sh: note: this run replaces the result set $earlier (machine $machine," \
         "commit ${commit:0:8}); give --label NAME to keep both" >&2
  fi
done

if [ "$quick" = 1 ]; then
  # Every backend, a quarter of the grid, one sample per point.
  args=(--quick
        -b "Throughput(Cost)?.(time_batch|track_cpu_us_per_msg)\('[^']+', (64|65536), '(1x1|4x4)', 0\)"
        -b "Latency.track_rtt_p(50|99)_us\('[^']+', (64|65536)\)"
        "${args[@]+"${args[@]}"}")
fi

# The timed runs leave their CPU cost here for ThroughputCost to report; the suite's workers
# are placed as --pin says (within asv's --cpu-affinity, if given: that one restricts the
# benchmark process, and so every CPU its workers may use).
record_dir=$(mktemp -d "${TMPDIR:-/tmp}/ipc-bench-asv-XXXXXX")
trap 'rm -rf "$record_dir"' EXIT
# --launch-method forkserver: asv forks each benchmark from a server that imported the suite
# once, where spawn starts a new interpreter per parameter combination (0.3-0.6 s each, about
# 1,100 of them: 5 of the suite's 15 minutes). Each benchmark still runs in a process (and
# process group) of its own, and every worker settles its allocator (backends/allocator.py).
report_dir=$(dirname "$config")/report
mkdir -p "$report_dir"
log=$report_dir/asv-run.log
echo "run-suite.sh: measuring (asv's full output, with every point's table and stderr: $log)"
status=0
# The console gets one line per benchmark (asv's progress line) and every failed point; the log
# gets everything. PIPESTATUS keeps asv's own exit status (2: some benchmark failed).
set +e
IPC_BENCH_PIN=$pin IPC_BENCH_RECORD_DIR=$record_dir \
  asv run --config "$config" --python=same --set-commit-hash "$commit" --machine "$machine" \
  --show-stderr --launch-method forkserver \
  "${args[@]+"${args[@]}"}" 2>&1 | tee "$log" | awk '
    /^\[ *[0-9.]+%\] ··· (bench_|\.\.\.)/ { bench = $3; print; fflush(); next }
    /^\[ *[0-9.]+%\] ··· Setting up/ { if ($NF != "ok") { print; fflush() }; next }
    /^\[ *[0-9.]+%\] ··· / { next }
    /^\[ *[0-9.]+%\] / { next }                   # asv'"'"'s commit and environment lines
    /^· / { print; fflush(); next }                # discovery, totals, configuration errors
    /failed/ && bench != "" { gsub(/^ +| +$/, ""); gsub(/  +/, " ");
                              print "    FAILED " bench ": " $0; fflush(); next }
    /^(Traceback|[A-Za-z]*Error)/ { print "    " $0; fflush() }'
status=${PIPESTATUS[0]}
set -e
# asv records no library versions for an existing environment: the report reads them here.
if [ -d "$results/$machine" ]; then
  mkdir -p "$sidecars"
  # Not `python -m backends.measure.machine`: its package imports it first (RuntimeWarning).
  python -c 'import sys; from backends.measure.machine import main; main(sys.argv[1:])' \
    --commit "$commit" --label "$label" --placement "$pin" > "$sidecars/$machine.json"
  rm -f "$results/$machine/ipc-bench-environment.json"   # where older versions put it
  # Each backend's declared largest payload: the report tells skipped points above it apart.
  python -m backends list --json > "$sidecars/$machine.backends.json"
fi
# asv exits 2 when some benchmark failed: the report still shows every point that passed.
if [ "$status" != 0 ]; then
  echo "run-suite.sh: asv exited $status (2: some points failed, listed above; see $log)" >&2
fi
python -m backends report --results "$results" --out "$report_dir" || status=$?
echo "asv results: $results   asv's log: $log   asv's own site: asv publish && asv preview"
exit "$status"
