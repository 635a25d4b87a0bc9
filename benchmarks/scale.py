"""How the data chain's cost grows with its input: documents -> corpus -> vocab -> tfrecords at several sizes.

For each size (MB of title, abstract and body text) the generator (`benchmarks.scale_data`: real records with
fresh identifiers and resampled words, planted exact and near copies, boilerplate lines, PubMed/PMC pairs,
superseded versions and deletions) writes an input set; each stage then runs as a separate process, on Beam's
local runner in one process and in multi-process mode (`--workers`), and is measured from outside:

- wall time, CPU time (the stage's process and its worker processes), MB of text per second and per CPU second;
- peak resident memory of the launcher process and of the largest worker process;
- output size; for the corpus, the planted duplicates found (recall) and the documents removed that were not
  planted (precision), from the job's per-document exclusion list (`removed/`).

Then the growth exponent of time and memory per stage (the slope of log cost against log size over the sizes),
a table, a log-log PNG plot and a JSON file. `--baseline-repo DIR` also runs the corpus stage with the code of
another checkout (e.g. an earlier commit in a git worktree), on the same inputs in the same run, and prints the
ratios: how this version compares with that one.

    python -m benchmarks.scale --sizes 3,10,30,100 --output out/scale      # about 40 minutes on 2 cores
    python -m benchmarks.scale --sizes 1,3 --stages documents,corpus       # a quick look
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = ("documents", "corpus", "vocab", "tfrecords")
# Runs a module as `python -m` does and reports, on its last stdout line, its wall and CPU time and the peak
# resident memory of itself (the launcher) and of its largest descendant (a worker process of the local runner).
# Peaks are VmHWM of each process's own memory map: the rusage figure would also count the RSS of the process it
# was forked from (Linux carries the high-water mark across exec), i.e. the benchmark's own.
MEASURE = """
import json, os, resource, runpy, sys, threading, time

def peak(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0

def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    children.setdefault(int(stat.read().rsplit(")", 1)[1].split()[1]), []).append(int(name))
            except OSError:
                pass
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found

workers = [0]
def watch():
    while True:
        workers[0] = max([workers[0]] + [peak(pid) for pid in descendants(os.getpid())])
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()
module, sys.argv = sys.argv[1], sys.argv[1:]
started = time.perf_counter()
status = 0
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as exit:
    status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"status": status, "seconds": time.perf_counter() - started,
                  "cpu_seconds": me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime,
                  "launcher_rss": peak("self"), "worker_rss": workers[0]}))
"""


def run_stage(args: list[str], repo: Path = REPO, log: Path | None = None) -> dict:
    """One job in a fresh process; its measurements (and the process must succeed)."""
    env = dict(os.environ, PYTHONPATH=str(repo), TF_CPP_MIN_LOG_LEVEL="2")
    with open(log or os.devnull, "w") as stderr:
        result = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=repo, env=env, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["status"]:
        raise SystemExit(f"{' '.join(args[:1])} failed (exit {figures['status']}); see {log}")
    return figures


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


STEP_ORDER = ("read", "assemble", "filter", "language", "decontaminate", "cross_source", "exact", "near",
              "boilerplate")


def corpus_quality(output: Path, truth: dict) -> dict:
    """Recall and precision of the planted duplicates, from the corpus job's per-document exclusion list:
    a planted pair counts where both copies reached its step (neither left earlier for another reason) and is
    found where its step removed one of them; a removal by a dedup step is wrong where the document was no
    planted copy of any kind."""
    removed = read_removed(output)

    def order(document: str) -> int:
        return STEP_ORDER.index(removed[document]) if document in removed else len(STEP_ORDER)

    quality = {}
    kinds = (("pmc_pairs", "cross_source"), ("exact_copies", "exact"), ("near_copies", "near"))
    planted = {x for kind, _ in kinds for pair in truth[kind] for x in pair} | set(truth.get("template_copies", []))
    for kind, step in kinds:
        pairs = [tuple(pair) for pair in truth[kind]]
        reached = [pair for pair in pairs if all(order(x) >= STEP_ORDER.index(step) for x in pair)]
        found = [pair for pair in reached if any(removed.get(x) == step for x in pair)]
        by_step = [document for document, s in removed.items() if s == step]
        wrong = [document for document in by_step if document not in planted]
        quality[step] = {"planted": len(pairs), "reached": len(reached), "found": len(found),
                         "recall": len(found) / len(reached) if reached else None,
                         "removed": len(by_step), "not_planted": len(wrong),
                         "precision": 1 - len(wrong) / len(by_step) if by_step else None}
    return quality


def slope(sizes: list[float], values: list[float]) -> float | None:
    """Least-squares slope of log(value) against log(size): 1 is linear growth, 0 flat."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values) if s > 0 and v > 0]
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else None


def stage_args(stage: str, data: Path, out: Path, mode: list[str]) -> list[str]:
    if stage == "documents":
        return ["pipelines.documents", "--pubmed", f"{data}/pubmed/*/*.xml.gz", "--pmc", f"{data}/pmc/*/*.xml",
                "--output", f"{out}/documents/docs", *mode]
    if stage == "corpus":
        return ["pipelines.corpus", "--input", f"{out}/documents/docs-*-of-*.jsonl.gz", "--output",
                f"{out}/corpus", "--shard-size-mb", "20", *mode]
    if stage == "vocab":
        return ["pipelines.vocab", "--input", f"{out}/corpus/text/part-*.txt", "--output", f"{out}/vocab",
                "--vocab-size", "16000", *mode]
    return ["pipelines.tfrecords", "--input", f"{out}/corpus/text/part-*.txt", "--vocab", f"{out}/vocab",
            "--output", f"{out}/tfrecords", "--max-seq-length", "128", "--overwrite", *mode]


def measure(sizes: list[float], stages: list[str], root: Path, workers: int, seed: int,
            baseline: Path | None) -> list[dict]:
    from benchmarks.scale_data import generate

    rows = []
    modes = {"one process": []}
    if workers > 1:
        modes[f"{workers} processes"] = ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
    for size in sizes:
        data = root / f"input-{size:g}mb"
        if not (data / "truth.json").exists():
            started = time.perf_counter()
            generate(data, size, seed)
            print(f"generated {size:g} MB in {time.perf_counter() - started:.0f} s", flush=True)
        truth = json.loads((data / "truth.json").read_text())
        for mode, flags in modes.items():
            out = root / f"run-{size:g}mb-{mode.split()[0]}"
            for stage in stages:
                figures = run_stage(stage_args(stage, data, out, flags), log=out.parent / f"{out.name}-{stage}.log")
                output = out / ("documents" if stage == "documents" else stage)
                row = {"size_mb": size, "mode": mode, "stage": stage, "implementation": "this", **figures,
                       "output_bytes": directory_bytes(output), "text_mb": truth["text_bytes"] / 1e6}
                if stage == "corpus":
                    row["quality"] = corpus_quality(output, truth)
                    if baseline is not None:
                        base_out = root / f"baseline-{size:g}mb-{mode.split()[0]}"
                        base_args = [f"{base_out}/corpus" if arg == f"{out}/corpus" else arg
                                     for arg in stage_args(stage, data, out, flags)]  # its own output
                        base = run_stage(base_args, baseline, log=root / f"{base_out.name}-corpus.log")
                        rows.append({**row, **base, "implementation": "baseline",
                                     "output_bytes": directory_bytes(base_out / "corpus"), "quality": None})
                rows.append(row)
                (root / "scale.partial.json").write_text(json.dumps({"rows": rows}, indent=1))
                print(f"{size:g} MB, {mode}, {stage}: {figures['seconds']:.1f} s, launcher "
                      f"{figures['launcher_rss'] / 1e6:.0f} MB, workers {figures['worker_rss'] / 1e6:.0f} MB",
                      flush=True)
    return rows


def read_removed(output: Path) -> dict[str, str]:
    """The corpus job's exclusion list: removed document id -> the step that removed it."""
    removed = {}
    for path in (output / "removed").glob("*.jsonl*"):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as handle:
            for line in handle:
                row = json.loads(line)
                removed[row["id"]] = row["step"]
    return removed


def hot_keys(root: Path, copies: int, reissues: int, seed: int = 0) -> dict:
    """The hot keys against ordinary input of the same size, documents and corpus jobs in one process each:
    `copies` records that are one template with two words changed (one LSH bucket, one title line, one
    near-duplicate cluster) and one PMID issued again in `reissues` update files. Their figures, how many template
    copies the corpus kept (1 is right) and whether the last issue of the PMID won."""
    from benchmarks.scale_data import generate, reissue

    hot = generate(root / "input-hot", 0.1, seed, template_copies=copies)
    generate(root / "input-plain", hot.text_bytes / 1e6, seed)
    pmid = reissue(root / "input-hot", reissues)
    result = {"copies": copies, "reissues": reissues, "text_mb": hot.text_bytes / 1e6}
    for name in ("hot", "plain"):
        data, out = root / f"input-{name}", root / f"run-{name}"
        for stage in ("documents", "corpus"):
            result[f"{name}/{stage}"] = run_stage(stage_args(stage, data, out, []), log=root / f"{name}-{stage}.log")
    out = root / "run-hot"
    removed = read_removed(out / "corpus")
    result["template_kept"] = sum(1 for x in hot.template_copies if x not in removed)
    result["template_removed_by"] = sorted({removed[x] for x in hot.template_copies if x in removed})
    titles = [json.loads(line)["title"] for path in sorted((out / "documents").glob("docs-*-of-*.jsonl.gz"))
              for line in gzip.open(path, "rt") if f'"pubmed:{pmid}"' in line]
    result["reissued_title"] = titles[0] if len(titles) == 1 else titles
    result["reissued_last_wins"] = len(titles) == 1 and titles[0].endswith(f"(issue {reissues - 1})")
    result["superseded"] = json.loads((out / "documents" / "docs-stats.json").read_text())["superseded"]
    return result


def hot_key_report(hot: dict) -> str:
    lines = [f"Hot keys: {hot['copies']} copies of one template, one PMID in {hot['reissues']} update files "
             f"({hot['text_mb']:.1f} MB of text), against ordinary input of the same size:", "",
             "| stage | hot s | ordinary s | hot peak MB | ordinary peak MB |", "|---|---|---|---|---|"]
    for stage in ("documents", "corpus"):
        h, p = hot[f"hot/{stage}"], hot[f"plain/{stage}"]
        lines.append(f"| {stage} | {h['seconds']:.1f} | {p['seconds']:.1f} | "
                     f"{max(h['launcher_rss'], h['worker_rss']) / 1e6:.0f} | "
                     f"{max(p['launcher_rss'], p['worker_rss']) / 1e6:.0f} |")
    lines += ["", f"template copies kept: {hot['template_kept']} (removed by {', '.join(hot['template_removed_by'])}); "
              f"the PMID's last issue won: {hot['reissued_last_wins']}"]
    return "\n".join(lines)


def report(rows: list[dict]) -> tuple[str, dict]:
    lines = ["| stage | mode | MB text | wall s | MB/s | MB per CPU s | launcher peak MB | worker peak MB | "
             "output MB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["implementation"] != "this":
            continue
        lines.append(f"| {r['stage']} | {r['mode']} | {r['text_mb']:.1f} | {r['seconds']:.1f} | "
                     f"{r['text_mb'] / r['seconds']:.2f} | {r['text_mb'] / r['cpu_seconds']:.2f} | "
                     f"{r['launcher_rss'] / 1e6:.0f} | {r['worker_rss'] / 1e6:.0f} | {r['output_bytes'] / 1e6:.1f} |")
    growth = {}
    lines += ["", "| stage | mode | time exponent | launcher memory exponent | worker memory exponent |",
              "|---|---|---|---|---|"]
    for stage in STAGES:
        for mode in sorted({r["mode"] for r in rows}):
            mine = [r for r in rows if r["stage"] == stage and r["mode"] == mode and r["implementation"] == "this"]
            if len(mine) < 2:
                continue
            sizes = [r["text_mb"] for r in mine]
            exponents = {name: slope(sizes, [r[key] for r in mine]) for name, key in
                         (("time", "seconds"), ("launcher_memory", "launcher_rss"), ("worker_memory", "worker_rss"))}
            growth[f"{stage}/{mode}"] = exponents
            lines.append(f"| {stage} | {mode} | " + " | ".join(
                f"{v:.2f}" if v is not None else "-" for v in exponents.values()) + " |")
    quality = [r for r in rows if r["stage"] == "corpus" and r.get("quality")]
    if quality:
        lines += ["", "| MB text | mode | step | planted | reached the step | found (recall) | removed by the step "
                      "| not planted (precision) |", "|---|---|---|---|---|---|---|---|"]
        for r in quality:
            for step, q in r["quality"].items():
                recall = f"{q['found']} ({q['recall']:.3f})" if q["recall"] is not None else "-"
                precision = f"{q['not_planted']} ({q['precision']:.3f})" if q["precision"] is not None else "-"
                lines.append(f"| {r['text_mb']:.1f} | {r['mode']} | {step} | {q['planted']} | {q['reached']} | "
                             f"{recall} | {q['removed']} | {precision} |")
    baseline = [r for r in rows if r["implementation"] == "baseline"]
    if baseline:
        lines += ["", "The corpus job against the baseline checkout, on the same documents (ratios above 1: this "
                      "version is faster or smaller):", "",
                  "| MB text | mode | baseline s | this s | wall ratio | CPU ratio | baseline peak MB | this peak MB "
                  "| memory ratio |", "|---|---|---|---|---|---|---|---|---|"]
        for base in baseline:
            this = next(r for r in rows if r["implementation"] == "this" and r["stage"] == "corpus"
                        and r["size_mb"] == base["size_mb"] and r["mode"] == base["mode"])
            lines.append(f"| {this['text_mb']:.1f} | {this['mode']} | {base['seconds']:.1f} | {this['seconds']:.1f} "
                         f"| {base['seconds'] / this['seconds']:.2f}x | {base['cpu_seconds'] / this['cpu_seconds']:.2f}x "
                         f"| {peak(base) / 1e6:.0f} | {peak(this) / 1e6:.0f} | {peak(base) / peak(this):.2f}x |")
        lines += ["", "Memory each further MB of text costs (the slope between the two largest sizes; what decides how "
                      "much text a machine holds):", "", "| stage | mode | this MB per MB | baseline MB per MB |",
                  "|---|---|---|---|"]
    else:
        lines += ["", "Memory each further MB of text costs (the slope between the two largest sizes):", "",
                  "| stage | mode | this MB per MB | baseline MB per MB |", "|---|---|---|---|"]
    for stage in STAGES:
        for mode in sorted({r["mode"] for r in rows}):
            slopes = []
            for implementation in ("this", "baseline"):
                mine = sorted((r for r in rows if r["stage"] == stage and r["mode"] == mode
                               and r["implementation"] == implementation), key=lambda r: r["text_mb"])
                slopes.append(f"{(peak(mine[-1]) - peak(mine[-2])) / 1e6 / (mine[-1]['text_mb'] - mine[-2]['text_mb']):.1f}"
                              if len(mine) >= 2 else "-")
            if slopes[0] != "-":
                lines.append(f"| {stage} | {mode} | {slopes[0]} | {slopes[1]} |")
    return "\n".join(lines), growth


def peak(row: dict) -> int:
    """The most memory one process of the run held: the launcher, or the largest worker."""
    return max(row["launcher_rss"], row["worker_rss"])


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (time_axes, memory_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in STAGES:
        for mode, style in (("one process", "-o"),):
            mine = [r for r in rows if r["stage"] == stage and r["mode"] == mode and r["implementation"] == "this"]
            if not mine:
                continue
            sizes = [r["text_mb"] for r in mine]
            time_axes.loglog(sizes, [r["seconds"] for r in mine], style, label=stage)
            memory_axes.loglog(sizes, [max(r["launcher_rss"], r["worker_rss"]) / 1e6 for r in mine], style,
                               label=stage)
    time_axes.set(xlabel="MB of text", ylabel="wall seconds (one process)", title="time")
    memory_axes.set(xlabel="MB of text", ylabel="peak resident MB", title="memory")
    for axes in (time_axes, memory_axes):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10,30,100", help="MB of text per input set (default 3,10,30,100)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages to run")
    parser.add_argument("--workers", type=int, default=2, help="the multi-process mode's workers (1: none)")
    parser.add_argument("--output", default="out/scale", help="working directory (inputs are kept for re-runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-repo", default=None,
                        help="another checkout whose corpus job runs on the same inputs, for the ratios")
    parser.add_argument("--hot-copies", type=int, default=20_000,
                        help="records of one template in the hot-key run (0: no hot-key run)")
    parser.add_argument("--hot-reissues", type=int, default=300, help="update files issuing one PMID again")
    parser.add_argument("--report-only", action="store_true",
                        help="render the tables and the plot again from OUTPUT/scale.json (or scale.partial.json)")
    args = parser.parse_args(argv)
    root = Path(args.output).resolve()
    if args.report_only:
        saved = root / "scale.json" if (root / "scale.json").exists() else root / "scale.partial.json"
        table, growth = report(json.loads(saved.read_text())["rows"])
        if (root / "hot.json").exists():
            table += "\n\n" + hot_key_report(json.loads((root / "hot.json").read_text()))
        print(table)
        (root / "scale.md").write_text(table + "\n")
        plot(json.loads(saved.read_text())["rows"], root / "scale.png")
        return 0
    root.mkdir(parents=True, exist_ok=True)
    if args.hot_copies:
        hot = hot_keys(root / "hot", args.hot_copies, args.hot_reissues, args.seed)
        (root / "hot.json").write_text(json.dumps(hot, indent=1))
        print(hot_key_report(hot), flush=True)
    sizes = [float(s) for s in args.sizes.split(",")]
    rows = measure(sizes, args.stages.split(","), root, args.workers, args.seed,
                   Path(args.baseline_repo).resolve() if args.baseline_repo else None)
    table, growth = report(rows)
    print(table)
    (root / "scale.json").write_text(json.dumps({"rows": rows, "growth": growth}, indent=1))
    if args.hot_copies:
        table += "\n\n" + hot_key_report(hot)
    (root / "scale.md").write_text(table + "\n")
    plot(rows, root / "scale.png")
    print(f"-> {root}/scale.json, scale.md, scale.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
