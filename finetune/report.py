"""Results people look at: the BLURB table as a plot of our score against the published anchors per task
(`blurb.png`, and inline in `blurb.html` beside `blurb.md`), learning curves (`--train-fractions`: the score per
fraction of the training data), and `python -m finetune compare` over result directories (a `--random-init`
baseline and the pretrained model, or several checkpoints): the gain per task, and per fraction, over the
first directory.

Everything is read from the `TASK.json` files the runs wrote, so a plot can be redrawn from any past run."""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import posixpath
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import tensorflow as tf  # noqa: E402

from evaluation.tasks import ALL_TASKS, TASKS  # noqa: E402
from finetune import anchors, scoring  # noqa: E402
from pretrain.errors import PretrainError  # noqa: E402
from pretrain.files import read_bytes, write_atomically, write_json  # noqa: E402

COLOURS = ("#1f5f99", "#c0504d", "#4f8a3c", "#8064a2", "#d98b2b", "#2c9c9c")
ANCHOR_MARKERS = {"PubMedBERT": "o", "BioELECTRA": "D", "ELECTRAMed": "^", "BlueBERT": "s"}
ANCHOR_COLOUR = "#444444"
IGNORED_JSON = ("blurb.json", "blue.json", "compare.json")


@dataclasses.dataclass
class Run:
    """One result directory: its name in tables and legends, and its tasks' results (TASK.json)."""

    name: str
    results: dict[str, dict]

    @property
    def split(self) -> str:
        splits = {r.get("split", "dev") for r in self.results.values()}
        return "/".join(sorted(splits)) or "dev"

    def blurb(self, tasks: list[str] | None = None) -> float | None:
        chosen = {t: r for t, r in self.results.items() if tasks is None or t in tasks}
        if not chosen:
            return None
        return scoring.blurb_score({t: r["mean"] for t, r in chosen.items()},
                                   {t: r["blurb_type"] for t, r in chosen.items()})


def read_run(directory: str, name: str | None = None) -> Run:
    """The TASK.json files of a `run` or `blurb` output directory."""
    directory = directory.rstrip("/")
    results = {}
    for path in sorted(tf.io.gfile.glob(f"{directory}/*.json")):
        if posixpath.basename(path) in IGNORED_JSON:
            continue
        try:
            value = json.loads(read_bytes(path))
        except ValueError:
            continue
        if isinstance(value, dict) and value.get("task") in ALL_TASKS and "mean" in value:
            results[value["task"]] = value
    if not results:
        raise FileNotFoundError(f"{directory} holds no TASK.json of `python -m finetune run` or `blurb`")
    return Run(name or posixpath.basename(directory) or directory, results)


def _ordered(tasks) -> list[str]:
    return [t for t in ALL_TASKS if t in set(tasks)]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None}, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def scores_png(runs: list[Run]) -> bytes:
    """Per task (one row each): each run's mean score (bar, ± std) and the published test figures."""
    tasks = _ordered({t for run in runs for t in run.results})
    height = 0.8 / max(1, len(runs))
    figure, axes = plt.subplots(figsize=(7.5, 0.9 + 0.45 * len(tasks) * max(1, len(runs)) ** 0.5))
    for index, run in enumerate(runs):
        rows = [i for i, t in enumerate(tasks) if t in run.results]
        axes.barh([i + (index - (len(runs) - 1) / 2) * height for i in rows],
                  [100 * run.results[tasks[i]]["mean"] for i in rows], height=height * 0.9,
                  xerr=[100 * run.results[tasks[i]]["std"] for i in rows], color=COLOURS[index % len(COLOURS)],
                  label=f"{run.name} ({run.split})", error_kw={"elinewidth": 0.8, "capsize": 2})
    for model, marker in ANCHOR_MARKERS.items():
        points = [(anchors.published(t)[model], i) for i, t in enumerate(tasks) if model in anchors.published(t)]
        if points:
            axes.scatter([a.score for a, _ in points], [i for _, i in points], marker=marker, s=36,
                         facecolors=[ANCHOR_COLOUR if a.same_data else "none" for a, _ in points],
                         edgecolors=ANCHOR_COLOUR, zorder=3, label=f"{model} (published, test)")
    axes.set_yticks(range(len(tasks)), tasks)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("score (%)")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(fontsize=7, loc="lower right", framealpha=0.9)
    axes.set_title("Our scores against the published anchors (hollow: the paper's own data copy)", fontsize=9)
    return _png(figure)


def gains_png(runs: list[Run]) -> bytes:
    """Per task: each later run's mean minus the first run's (± the standard error of the difference)."""
    base, others = runs[0], runs[1:]
    tasks = _ordered(set(base.results) & {t for run in others for t in run.results})
    height = 0.8 / max(1, len(others))
    figure, axes = plt.subplots(figsize=(7.5, 0.9 + 0.45 * len(tasks)))
    for index, run in enumerate(others):
        rows = [i for i, t in enumerate(tasks) if t in run.results]
        values = [gain(base.results[tasks[i]], run.results[tasks[i]]) for i in rows]
        axes.barh([i + (index - (len(others) - 1) / 2) * height for i in rows], [100 * g for g, _ in values],
                  height=height * 0.9, xerr=[100 * e for _, e in values], color=COLOURS[(index + 1) % len(COLOURS)],
                  label=f"{run.name} − {base.name}", error_kw={"elinewidth": 0.8, "capsize": 2})
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(tasks)), tasks)
    axes.invert_yaxis()
    axes.set_xlabel("gain (score points)")
    axes.grid(axis="x", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    axes.set_title(f"Gain per task over {base.name}", fontsize=9)
    return _png(figure)


def curves_png(runs: list[Run]) -> bytes:
    """Learning curves: per task, the score against the fraction of training examples (log scale)."""
    tasks = _ordered({t for run in runs for t, r in run.results.items() if r.get("fractions")})
    columns = min(3, len(tasks))
    rows = math.ceil(len(tasks) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.5 * rows), squeeze=False)
    for axes, task in zip(grid.flat, tasks):
        for index, run in enumerate(runs):
            points = run.results.get(task, {}).get("fractions")
            if not points:
                continue
            x = [p["fraction"] for p in points]
            y = [100 * p["mean"] for p in points]
            spread = [100 * p["std"] for p in points]
            colour = COLOURS[index % len(COLOURS)]
            axes.plot(x, y, marker="o", color=colour, label=run.name)
            axes.fill_between(x, [a - b for a, b in zip(y, spread)], [a + b for a, b in zip(y, spread)],
                              color=colour, alpha=0.15)
        axes.set_xscale("log")
        axes.set_title(task, fontsize=9)
        axes.set_xlabel("fraction of the training examples", fontsize=7)
        axes.set_ylabel("score (%)", fontsize=7)
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=6)
    for axes in list(grid.flat)[len(tasks):]:
        axes.axis("off")
    figure.tight_layout()
    return _png(figure)


def gain(base: dict, other: dict) -> tuple[float, float]:
    """`other`'s mean minus `base`'s, and the standard error of that difference, sqrt(s0²/n0 + s1²/n1)."""
    error = math.sqrt(base["std"] ** 2 / max(1, len(base.get("scores", [0])))
                      + other["std"] ** 2 / max(1, len(other.get("scores", [0]))))
    return other["mean"] - base["mean"], error


def _cell(result: dict | None) -> str:
    if result is None:
        return "—"
    return f"{100 * result['mean']:.2f} ± {100 * result['std']:.2f}"


def _signed(value: float, error: float) -> str:
    return f"{100 * value:+.2f}" + (f" (± {100 * error:.2f})" if error else "")


def compare_markdown(runs: list[Run]) -> tuple[str, dict]:
    """The comparison table (scores, gains over the first run, BLURB scores over the tasks each pair shares)
    and its JSON."""
    base = runs[0]
    tasks = _ordered({t for run in runs for t in run.results})
    header = ["task", "metric", *[f"{run.name} ({run.split})" for run in runs],
              *[f"gain {run.name} − {base.name}" for run in runs[1:]]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    data: dict = {"baseline": base.name, "runs": [run.name for run in runs], "tasks": {}}
    for task in tasks:
        results = [run.results.get(task) for run in runs]
        metric = next(r["metric"] for r in results if r)
        gains = []
        entry = {"metric": metric, "scores": {run.name: (r["mean"] if r else None) for run, r in zip(runs, results)},
                 "std": {run.name: (r["std"] if r else None) for run, r in zip(runs, results)}, "gains": {}}
        for run, result in zip(runs[1:], results[1:]):
            if result and results[0]:
                value, error = gain(results[0], result)
                gains.append(_signed(value, error))
                entry["gains"][run.name] = {"gain": value, "standard_error": error}
            else:
                gains.append("—")
        lines.append(f"| {task} | {metric} | " + " | ".join(_cell(r) for r in results) + " | "
                     + " | ".join(gains) + (" |" if gains else "|"))
        curves = _curve_gains(runs, task)
        if curves:
            entry["fractions"] = curves
        data["tasks"][task] = entry
    blurbs = []
    for run in runs[1:]:
        shared = [t for t in tasks if t in run.results and t in base.results and t in TASKS]  # BLURB's only
        if shared:
            ours, theirs = run.blurb(shared), base.blurb(shared)
            blurbs.append(f"- BLURB score over the {len(shared)} task{'s' if len(shared) > 1 else ''} both have: "
                          f"{run.name} {100 * ours:.2f}, "
                          f"{base.name} {100 * theirs:.2f} ({100 * (ours - theirs):+.2f})")
            data.setdefault("blurb", {})[run.name] = {"tasks": shared, "score": ours, "baseline": theirs}
    text = "\n".join(lines) + "\n"
    if blurbs:
        text += "\n" + "\n".join(blurbs) + "\n"
    text += (f"\nGains are each run's mean minus {base.name}'s, ± the standard error of that difference "
             "(sqrt(s0²/n0 + s1²/n1) over the trials); a gain within about twice it may be noise.\n")
    splits = {run.split for run in runs}
    if len(splits) > 1:
        text += f"\n**The runs score different splits** ({', '.join(f'{r.name}: {r.split}' for r in runs)}).\n"
    curve_lines = _curve_markdown(runs, data)
    if curve_lines:
        text += "\n" + curve_lines
    return text, data


def _curve_gains(runs: list[Run], task: str) -> list[dict]:
    base = runs[0].results.get(task, {}).get("fractions")
    if not base:
        return []
    points = []
    for point in base:
        entry = {"fraction": point["fraction"], "train_examples": point["train_examples"],
                 "scores": {runs[0].name: point["mean"]}, "gains": {}}
        for run in runs[1:]:
            other = {p["fraction"]: p for p in run.results.get(task, {}).get("fractions") or []}
            if point["fraction"] in other:
                value, error = gain(point, other[point["fraction"]])
                entry["scores"][run.name] = other[point["fraction"]]["mean"]
                entry["gains"][run.name] = {"gain": value, "standard_error": error}
        points.append(entry)
    return points


def _curve_markdown(runs: list[Run], data: dict) -> str:
    rows = [(task, point, name, g) for task, entry in data["tasks"].items()
            for point in entry.get("fractions", []) for name, g in point["gains"].items()]
    if not rows:
        return ""
    lines = ["Learning curves: the gain per fraction of the training examples", "",
             "| task | fraction (examples) | " + " | ".join(f"gain {r.name} − {runs[0].name}" for r in runs[1:]) + " |",
             "|---|---|" + "---|" * (len(runs) - 1)]
    for task, entry in data["tasks"].items():
        for point in entry.get("fractions", []):
            cells = [_signed(point["gains"][r.name]["gain"], point["gains"][r.name]["standard_error"])
                     if r.name in point["gains"] else "—" for r in runs[1:]]
            lines.append(f"| {task} | {point['fraction']:g} ({point['train_examples']}) | "
                         + " | ".join(cells) + " |")
    task, point, name, best = max(rows, key=lambda row: row[3]["gain"])
    lines += ["", f"Largest gain: {name} over {runs[0].name} on {task} with {point['fraction']:g} of the training "
                  f"examples ({point['train_examples']}): {_signed(best['gain'], best['standard_error'])}."]
    return "\n".join(lines) + "\n"


# -- HTML ----------------------------------------------------------------------------------------------------


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def markdown_html(markdown: str) -> str:
    """The tables, bullets and paragraphs this module and `markdown_table` write, as HTML."""
    out, table, items = [], [], []

    def flush():
        if table:
            rows = [line.strip().strip("|").split(" | ") for line in table if not re.fullmatch(r"\|[-|]+\|?", line)]
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c.strip())}</th>" for c in rows[0])
                       + "</tr></thead><tbody>" + "".join(
                           "<tr>" + "".join(f"<td>{_inline(c.strip())}</td>" for c in row) + "</tr>"
                           for row in rows[1:]) + "</tbody></table>")
            table.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            if items:
                flush()
            table.append(line)
        elif line.startswith("- "):
            if table:
                flush()
            items.append(line[2:])
        else:
            flush()
            if line.strip():
                out.append(f"<p>{_inline(line)}</p>")
    flush()
    return "\n".join(out)


def html_page(title: str, markdown: str, images: list[tuple[str, bytes]]) -> str:
    figures = "".join(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
                      f'{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(caption)}</figcaption>'
                      f"</figure>" for caption, png in images)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;font-size:.85rem;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .5rem}}
th{{background:#f3f3f3}}figure{{margin:1rem 0}}img{{max-width:100%}}figcaption{{font-size:.8rem;color:#555}}</style>
</head><body><h1>{html.escape(title)}</h1>
{figures}
{markdown_html(markdown)}
</body></html>
"""


def write_blurb_report(output: str, results: list[dict], table: str) -> dict[str, str]:
    """blurb.png (and, with learning curves, blurb_curves.png) and blurb.html beside blurb.md."""
    if not results:
        return {}
    run = Run("ours", {r["task"]: r for r in results})
    images = [("Our scores (mean ± std over the trials) and the published test figures", scores_png([run]))]
    paths = {"png": f"{output}/blurb.png", "html": f"{output}/blurb.html"}
    write_atomically(paths["png"], images[0][1])
    if any(r.get("fractions") for r in results):
        curves = curves_png([run])
        paths["curves"] = f"{output}/blurb_curves.png"
        write_atomically(paths["curves"], curves)
        images.append(("Learning curves: the score per fraction of the training examples", curves))
    write_atomically(paths["html"], html_page("BLURB", table, images))
    return paths


def compare(directories: list[str], output: str, names: list[str] | None = None) -> tuple[str, dict]:
    """`python -m finetune compare`: compare.json, compare.md, compare.png (scores and anchors, gains) and
    compare.html (with learning curves where the runs have them) in `output`."""
    if names and len(names) != len(directories):
        raise PretrainError(f"--names gives {len(names)} names for {len(directories)} directories")
    runs = [read_run(d, n) for d, n in zip(directories, names or [None] * len(directories))]
    seen: dict[str, int] = {}
    for run, directory in zip(runs, directories):
        if run.name in seen:
            run.name = directory.rstrip("/")
        seen[run.name] = 1
    text, data = compare_markdown(runs)
    data["directories"] = directories
    tf.io.gfile.makedirs(output)
    images = [("compare.png", "Scores (mean ± std) and the published test figures", scores_png(runs))]
    if len(runs) > 1:
        images.append(("compare_gains.png", f"Gain per task over {runs[0].name}", gains_png(runs)))
    if any(r.get("fractions") for run in runs for r in run.results.values()):
        images.append(("compare_curves.png", "Learning curves: the score per fraction of the training examples",
                       curves_png(runs)))
    for name, _, png in images:
        write_atomically(f"{output}/{name}", png)
    write_json(f"{output}/compare.json", data)
    write_atomically(f"{output}/compare.md", text)
    write_atomically(f"{output}/compare.html",
                     html_page("Comparison", text, [(caption, png) for _, caption, png in images]))
    return text, data
