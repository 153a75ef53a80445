"""Does `ipc-bench recommend` rank the backends as a real application does? (Not for asv.)

    python -m benchmarks.agreement                     # 64 B, 64 KiB, 1 MiB at 2x2, 0 and 20 µs
    python -m benchmarks.agreement -s 64KiB --work-us 20 --rounds 5 --results .asv/results

For each workload it runs examples/pipeline.py over every available backend that takes that
many producers and consumers (``--rounds`` times each, the order of the backends rotated from
round to round, the median kept), asks ``recommend`` for the same workload from the suite's
results, and reports both rankings, their Spearman rank correlation, and whether the winner is
the same. Goal: the same winner and a correlation of at least 0.9 at each workload. It also
prints how well the application's rounds agree with each other (median Spearman of every pair):
on a busy machine that ceiling, not the recommendation, can be what stays below 0.9. asv finds
nothing to time here (no ``time_``/``track_`` names), and the imports wait for ``main()``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "pipeline.py"
SPEARMAN_GOAL = 0.9


def ranks(values: list[float]) -> list[float]:
    """Ranks from 1 (the largest value first), ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: -values[i])
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the two lists' ranks."""
    ra, rb = ranks(a), ranks(b)
    mean_a, mean_b = statistics.fmean(ra), statistics.fmean(rb)
    covariance = sum((x - mean_a) * (y - mean_b) for x, y in zip(ra, rb, strict=True))
    spread = (sum((x - mean_a) ** 2 for x in ra) * sum((y - mean_b) ** 2 for y in rb)) ** 0.5
    return covariance / spread if spread else float("nan")


def run_example(backend: str, size: str, procs: str, work_us: float, timeout: float) -> float:
    """The example application's chunks per second, in a process of its own as a user runs it."""
    command = [sys.executable, str(EXAMPLE), backend, "--size", size, "--procs", procs,
               "--work-us", f"{work_us:g}", "--json"]
    # The example imports the same backends package as this script, not another installed one.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)["msgs_per_s"]


def compare(frame, capabilities, names, size_bytes, producers, consumers, work_us, rounds,
            timeout) -> dict:
    from backends.grid import format_size
    from reports.recommendation import recommend

    size, procs = format_size(size_bytes), f"{producers}x{consumers}"
    speeds: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            speeds[name].append(run_example(name, size, procs, work_us, timeout))
    application = {name: statistics.median(values) for name, values in speeds.items()}
    choice = recommend(frame, size_bytes, producers, consumers, capabilities=capabilities,
                       work_us=work_us)
    suite = dict(zip(choice.ranking["backend"], choice.ranking["msgs_per_s"], strict=True))
    common = [name for name in names if name in suite]
    rho = spearman([application[n] for n in common], [suite[n] for n in common])
    # The application against itself: how well one round's ranking predicts another's. No
    # recommendation can agree with the application much better than this on the same machine.
    self_rhos = [spearman([speeds[n][i] for n in common], [speeds[n][j] for n in common])
                 for i, j in itertools.combinations(range(rounds), 2)]
    app_best = max(common, key=application.get)
    suite_best = max(common, key=suite.get)
    return {"size": size_bytes, "procs": procs, "work_us": work_us, "rounds": rounds,
            "backends": common, "spearman": rho, "same_winner": app_best == suite_best,
            "application_best": app_best, "recommend_best": suite_best,
            "ok": app_best == suite_best and rho >= SPEARMAN_GOAL,
            "application_self_spearman": statistics.median(self_rhos) if self_rhos else None,
            "application_spread": statistics.median(max(v) / min(v) for v in speeds.values()),
            "application_msgs_per_s": {n: application[n] for n in common},
            "application_rounds": {n: speeds[n] for n in common},
            "recommend_msgs_per_s": {n: suite[n] for n in common},
            "recommend_notes": choice.notes, "result_set": choice.result_set}


def show(row: dict) -> None:
    from backends.grid import format_size

    app, suite = row["application_msgs_per_s"], row["recommend_msgs_per_s"]
    names = row["backends"]
    app_rank = dict(zip(names, ranks([app[n] for n in names]), strict=True))
    suite_rank = dict(zip(names, ranks([suite[n] for n in names]), strict=True))
    print(f"\n{format_size(row['size'])} {row['procs']}, {row['work_us']:g} µs of work per "
          f"message (median of {row['rounds']} rounds)")
    print(f"  {'backend':<16}{'application':>14}{'rank':>6}{'recommend':>14}{'rank':>6}")
    for name in sorted(names, key=app_rank.get):
        print(f"  {name:<16}{app[name]:>14,.0f}{app_rank[name]:>6g}{suite[name]:>14,.0f}"
              f"{suite_rank[name]:>6g}")
    for note in row["recommend_notes"]:
        print(f"  recommend: {note}")
    print(f"  Spearman {row['spearman']:.3f}; winner: application {row['application_best']}, "
          f"recommend {row['recommend_best']} -> {'ok' if row['ok'] else 'MISSED'}")
    if row["application_self_spearman"] is not None:
        print(f"  noise: the application's rounds against each other, median Spearman "
              f"{row['application_self_spearman']:.2f}; a backend's fastest round / its "
              f"slowest, median {row['application_spread']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    import backends
    from backends.grid import parse_procs_list, parse_sizes
    from backends.measure.runs import unsupported_reason
    from reports.results import load_results

    parser = argparse.ArgumentParser(prog="python -m benchmarks.agreement",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("-s", "--sizes", default="64,64KiB,1MiB")
    parser.add_argument("-p", "--procs", default="2x2")
    parser.add_argument("--work-us", default="0,20")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-b", "--backends", default=None, help="comma-separated (default: all)")
    parser.add_argument("--results", default=".asv/results", help="the suite's asv results")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per example run")
    parser.add_argument("--json", action="store_true", help="one JSON object per workload")
    args = parser.parse_args(argv)
    frame = load_results(args.results)
    capabilities = {name: backends.load(name).capabilities for name in backends.names()}
    chosen = args.backends.split(",") if args.backends else backends.names()
    rows = []
    for size_bytes in parse_sizes(args.sizes):
        for producers, consumers in parse_procs_list(args.procs):
            needs = {"multi-producer"} if producers > 1 else set()
            needs |= {"multi-consumer"} if consumers > 1 else set()
            names = [n for n in chosen if backends.unavailable(n) is None
                     and needs <= capabilities[n]
                     and unsupported_reason(backends.load(n), size_bytes) is None]
            for work_us in (float(w) for w in args.work_us.split(",")):
                row = compare(frame, capabilities, names, size_bytes, producers, consumers,
                              work_us, args.rounds, args.timeout)
                rows.append(row)
                print(json.dumps(row), flush=True) if args.json else show(row)
    if not args.json:
        met = sum(row["ok"] for row in rows)
        print(f"\n{met} of {len(rows)} workloads met the goal (same winner, Spearman >= "
              f"{SPEARMAN_GOAL})")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
