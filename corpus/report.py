"""The human report of a corpus run: one self-contained HTML page with its charts embedded as PNG.

Built from stats.json alone, so it can be re-rendered from any past run. Charts first (people read a
histogram faster than a table), the top lists after them. Every string from the data is HTML-escaped.
The page is byte-for-byte reproducible for the same stats (PNG without timestamps or software tag).
"""
from __future__ import annotations

import base64
import html
import io
import json
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)

BLUE, ORANGE, GREY, RED = "#3b6ea8", "#e08a2c", "#9a9a9a", "#c0504d"


def _png(draw: Callable, width: float = 6.6, height: float = 3.2) -> str:
    figure, axes = plt.subplots(figsize=(width, height), dpi=80)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _image(title: str, encoded: str) -> str:
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _barh(axes, labels: list[str], values: list[int], color: str, xlabel: str) -> None:
    if not values:
        axes.text(0.5, 0.5, "nothing removed", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    positions = range(len(values))
    axes.barh(list(positions), values, color=color)
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(xlabel)
    for position, value in zip(positions, values):
        axes.text(value, position, f" {value:,}", va="center", fontsize=8)
    axes.margins(x=0.15)


def _funnel(stats: dict) -> str:
    steps = stats["steps"]
    labels = ["input lines"] + [row["title"] for row in steps]
    values = [steps[0]["in"]] + [row["out"] for row in steps]
    return _png(lambda axes: _barh(axes, labels, values, BLUE, "documents after the step"))


def _removal_reasons(stats: dict) -> str:
    pairs = [(f"{row['step']}: {reason}", count) for row in stats["steps"]
             for reason, count in row["removed"].items()]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    return _png(lambda axes: _barh(axes, [p[0] for p in pairs], [p[1] for p in pairs], RED, "documents removed"),
                height=max(2.0, 0.3 * len(pairs) + 1))


def _sentence_reasons(stats: dict) -> str:
    pairs = sorted(stats["sentences"]["removed"].items(), key=lambda pair: (-pair[1], pair[0]))
    return _png(lambda axes: _barh(axes, [p[0] for p in pairs], [p[1] for p in pairs], ORANGE,
                                   "sentences removed (in kept documents)"),
                height=max(2.0, 0.3 * len(pairs) + 1))


def _bin_labels(edges: list[int]) -> list[str]:
    labels, low = [], 0
    for edge in edges:
        labels.append(f"{low + 1}-{edge}" if edge > low + 1 else f"{edge}")
        low = edge
    return labels + [f">{edges[-1]}"]


def _histogram(axes, series: list[tuple[str, list[int], str]], edges: list[int], xlabel: str,
               log: bool = False) -> None:
    labels = _bin_labels(edges)
    positions = list(range(len(labels)))
    width = 0.8 / len(series)
    for index, (name, counts, color) in enumerate(series):
        axes.bar([p + (index - (len(series) - 1) / 2) * width for p in positions], counts, width=width,
                 color=color, label=name)
    axes.set_xticks(positions, labels, rotation=60, fontsize=7)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    if log and any(count for _, counts, _ in series for count in counts):
        axes.set_yscale("log")
    if len(series) > 1:
        axes.legend(fontsize=8)


def _sentence_lengths(stats: dict) -> str:
    histogram = stats["histograms"]["sentence_words"]
    return _png(lambda axes: _histogram(axes, [("sentences", histogram["counts"], BLUE)],
                                        histogram["upper_edges"], "words per sentence"))


def _document_lengths(stats: dict) -> str:
    pubmed = stats["histograms"]["document_words_pubmed"]
    pmc = stats["histograms"]["document_words_pmc"]
    series = [("PubMed (title + abstract)", pubmed["counts"], BLUE), ("PMC (full text)", pmc["counts"], ORANGE)]
    # Log counts: full-text articles are few next to abstracts but carry most of the words.
    return _png(lambda axes: _histogram(axes, series, pubmed["upper_edges"], "words per document", log=True))


def _languages(stats: dict) -> str:
    pairs = sorted(stats["languages"].items(), key=lambda pair: (-pair[1], pair[0]))[:15]
    return _png(lambda axes: _barh(axes, [p[0] for p in pairs], [p[1] for p in pairs], GREY,
                                   "documents by detected language"), height=max(2.0, 0.3 * len(pairs) + 1))


def _boilerplate_chart(stats: dict) -> str:
    lines = stats["boilerplate_lines"][:15]
    return _png(lambda axes: _barh(axes, [_short(line["text"], 70) for line in lines],
                                   [line["documents"] for line in lines], ORANGE, "documents containing the line"),
                width=9, height=max(2.0, 0.3 * len(lines) + 1))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    """Cells are HTML already (escaped by the caller); no header row when `headers` is empty."""
    if not rows:
        return "<p class=none>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    head = f"<thead><tr>{head}</tr></thead>" if headers else ""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table>{head}<tbody>{body}</tbody></table>"


def _step_rows(stats: dict) -> list[list[str]]:
    rows = []
    for row in stats["steps"]:
        reasons = ", ".join(f"{html.escape(reason)} {count:,}" for reason, count in row["removed"].items())
        rows.append([html.escape(row["title"]), f"{row['in']:,}", f"{row['out']:,}", reasons or "–"])
    return rows


def _cluster_rows(stats: dict) -> list[list[str]]:
    rows = []
    for cluster in stats["near_duplicate_clusters"]:
        members = "<br>".join(
            f"{html.escape(m['id'])} (J≈{m['similarity']:.2f}): {html.escape(_short(m['title'], 90))}"
            for m in cluster["removed"])
        note = "" if cluster["kept_in_corpus"] else "<br>(itself a near duplicate of a better copy)"
        size = cluster.get("size", len(cluster["removed"]))
        if size > len(cluster["removed"]):
            members += f"<br>... and {size - len(cluster['removed'])} more"
        rows.append([f"{html.escape(cluster['kept'])}<br><i>{html.escape(_short(cluster['title'], 90))}</i>{note}",
                     str(size), members])
    return rows


def _exact_rows(stats: dict) -> list[list[str]]:
    return [[f"{html.escape(group['kept'])}<br><i>{html.escape(_short(group['title'], 90))}</i>",
             str(group["removed_count"]), html.escape(", ".join(group["removed"]))]
            for group in stats["exact_duplicate_groups"]]


def _decontamination(stats: dict) -> list[str]:
    """The benchmark decontamination section (only for a run with --exclude-benchmark)."""
    section = stats.get("decontamination")
    if section is None:
        return []
    settings = section["settings"]
    rows = [[html.escape(row["task"]), html.escape(row["split"]), f"{row['examples']:,}",
             f"{row['short_examples']:,}", f"{row['pmids']:,}", f"{row['ngrams']:,}", f"{row['documents_pmid']:,}",
             f"{row['documents_text']:,}", f"{row['sentences_text']:,}"] for row in section["tasks"]]
    verb = "matched (report mode: nothing removed)" if settings["mode"] == "report" else "removed"
    removed = section["documents_removed"] if settings["mode"] != "report" else section["documents_matched"]
    parts = [
        "<h2>Benchmark decontamination</h2>",
        f"<p>{html.escape(', '.join(settings['benchmarks']))}: splits {html.escape(', '.join(settings['splits']))}, "
        f"{settings['ngram']}-grams (at least {settings['min_matches']} per document), {settings['scope']} scope. "
        f"Documents {verb}: {removed['pmid']:,} by PMID, {removed['text']:,} by text; sentences "
        f"{section['sentences_matched' if settings['mode'] == 'report' else 'sentences_removed']:,}.</p>",
        _table(["task", "split", "examples", "without an n-gram", "PMIDs", "n-grams", "documents by PMID",
                "documents by text", "sentences with a matched n-gram"], rows),
    ]
    if section["missing"]:
        parts.append("<p>Not found: " + "; ".join(html.escape(note) for note in section["missing"]) + "</p>")
    return parts


_STYLE = """body{font-family:sans-serif;margin:24px;max-width:1120px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:12px;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:top;text-align:left}.summary td{font-size:14px}.none{color:#777}"""


def _settings_rows(config: dict) -> list[list[str]]:
    """The run's settings, flattened ("filters.min_document_words"), for a reader comparing two reports."""
    rows = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{prefix}{key}.", value[key])
        else:
            rows.append([html.escape(prefix.rstrip(".")), html.escape(json.dumps(value))])

    walk("", config)
    return rows


def render_report(stats: dict) -> str:
    """The report page for the stats of one run."""
    written = stats["written"]
    sentences = stats["sentences"]
    first = stats["steps"][0]
    median = stats.get("median_sentence_words")
    summary = _table([], [
        ["input JSON lines", f"{first['in']:,}"],
        ["documents written", f"{written['documents']:,}"],
        ["sentences written", f"{written['sentences']:,} (median sentence ≤ {median} words)"
         if median else f"{written['sentences']:,}"],
        ["text written", f"{written['text_bytes'] / 1e6:,.2f} MB in {len(written['shards'])} shard(s)"],
        ["sentences removed inside kept documents", f"{sum(sentences['removed'].values()):,}"],
    ])
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Corpus report</title>",
        f"<style>{_STYLE}</style></head><body><h1>Corpus report</h1>",
        f"<div class=summary>{summary}</div>",
        "<h2>Documents through the steps</h2><div class=grid>",
        _image("Documents left after each step", _funnel(stats)),
        _image("Documents removed, by step and reason", _removal_reasons(stats)),
        "</div>",
        "<h2>Sentences</h2><div class=grid>",
        _image("Sentences removed from kept documents, by reason", _sentence_reasons(stats)),
        _image("Sentence length in the written corpus", _sentence_lengths(stats)),
        "</div>",
        "<h2>Documents</h2><div class=grid>",
        _image("Document length in the written corpus", _document_lengths(stats)),
        _image("Detected languages (before the language filter)", _languages(stats)),
        "</div>",
        "<h2>Top removed boilerplate lines</h2>",
        _image("Boilerplate lines by number of documents (kept in one, removed from the rest)",
               _boilerplate_chart(stats)),
        _table(["documents", "line (one example)"],
               [[f"{line['documents']:,}", html.escape(line["text"])] for line in stats["boilerplate_lines"]]),
        "<h2>Top near-duplicate clusters</h2>",
        _table(["kept", "removed", "removed documents (estimated Jaccard similarity to the kept one)"],
               _cluster_rows(stats)),
        "<h2>Exact duplicates</h2>",
        _table(["kept", "removed", "removed ids"], _exact_rows(stats)),
        *_decontamination(stats),
        "<h2>Steps</h2>",
        _table(["step", "in", "out", "removed (reason count)"], _step_rows(stats)),
        "<h2>Settings</h2>",
        _table(["setting", "value"], _settings_rows(stats.get("config", {}))),
        "</body></html>\n",
    ]
    return "\n".join(parts)
