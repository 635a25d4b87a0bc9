"""`python -m finetune blue`: BLUE's ten tasks (Peng et al. 2019) with whatever data is under --data.

The clinical tasks (MedNLI, MedSTS, ShARe/CLEFE, i2b2 2010) are read in their own formats
(`evaluation.layouts`), the public ones (BIOSSES, BC5CDR-disease, BC5CDR-chem, DDI, ChemProt, HoC) as BLURB's
tasks from BLURB's files: the notes under the table say where BLUE's own split or metric differs
(`evaluation.tasks.BLUE_DIFFERENCES`). A task without data is listed as skipped, with where its data comes
from. There is no aggregate score: BLUE's "total" averages all ten tasks on BLUE's own files.
"""

from __future__ import annotations

import logging

from evaluation.files import Files
from evaluation.layouts import find
from evaluation.tasks import BLUE, BLUE_DIFFERENCES, CLINICAL_TASKS, get_task
from finetune import anchors
from pretrain.errors import NonFiniteError
from pretrain.files import write_atomically, write_json

log = logging.getLogger("finetune")

PUBLIC_SOURCE = ("read as in BLURB, from the files BLURB's data-generation scripts write "
                 "(docs/finetune.md, \"Data layout\")")


def source(name: str) -> str:
    """Where a BLUE task's data comes from."""
    task = get_task(name)
    return task.source if task.source else PUBLIC_SOURCE


def present(data: str, files: Files) -> list[str]:
    """The BLUE tasks whose training file is under `data`, in BLUE's order."""
    return [name for name in BLUE if find(get_task(name), data, files) is not None]


def table(results: list[dict], skipped: list[str], failed: dict[str, str], split: str) -> str:
    """Our scores beside BlueBERT's and BioELECTRA's published test figures; then the notes on the public
    tasks, the diverged tasks and the skipped ones with where their data comes from."""
    models = anchors.BLUE_MODELS
    published = " | ".join(f"{model} (published, test)" for model in models)
    lines = [f"| task | type | metric | {split} score (mean ± std) | trials | train / {split} examples | "
             f"{published} |", "|---|---|---|---|---|---|" + "---|" * len(models)]
    for r in results:
        figures = anchors.published(r["task"])
        cells = " | ".join(f"{figures[m].score:.2f}" if m in figures else "—" for m in models)
        mark = " ‡" if r["task"] in BLUE_DIFFERENCES else ""
        lines.append(f"| {r['task']}{mark} | {r['blurb_type']} | {r['metric']} | "
                     f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f} | {len(r['scores'])} | "
                     f"{r['train_examples']} / {r['eval_examples']} | {cells} |")
    lines += ["", f"Our scores are on the **{split}** split (mean ± sample std over the trials). The published "
              "figures are BLUE's **test** split, from base-size models with their papers' own recipes: where a "
              "model stands, not a like-for-like comparison. — no published figure here."]
    public = [r["task"] for r in results if r["task"] in BLUE_DIFFERENCES]
    if public:
        lines += ["", "‡ read from BLURB's files with BLURB's metric; where BLUE's own differs, as far as we "
                  "know (docs/finetune.md):"]
        lines += [f"- {name}: {BLUE_DIFFERENCES[name]}." for name in public]
    if failed:
        lines += ["", f"Failed (training diverged, no score): {', '.join(failed)}."]
        lines += [f"- {message}" for message in failed.values()]
    if skipped:
        lines += ["", f"Skipped (no training data): {', '.join(skipped)}."]
        lines += [f"- {name}: {source(name)}." for name in skipped if name in CLINICAL_TASKS]
        public = [name for name in skipped if name not in CLINICAL_TASKS]
        if public:
            lines.append(f"- {', '.join(public)}: {PUBLIC_SOURCE}.")
    lines += ["", "Sources (each figure's page is named beside it in finetune/anchors.py):"]
    lines += [f"- {model}: {anchors.CITATIONS[model]}" for model in models]
    return "\n".join(lines) + "\n"


def write(output: str, data: str, split: str, results: list[dict], failed: dict[str, str],
          files: Files) -> int:
    """blue.json and blue.md; prints the table. The exit status: 3 when a task diverged."""
    ran = {r["task"] for r in results} | set(failed)
    skipped = [name for name in BLUE if name not in ran]
    if not ran:
        for name in skipped:
            log.warning("%s: no training data under %s; %s", name, data, source(name))
        raise FileNotFoundError(
            f"no BLUE task has training data under {data}: --data takes the folders mednli/ (MedNLI from "
            "PhysioNet), MedSTS/, clefe/, i2b2-2010/ (BLUE's preprocessed files) and BLURB's (BC5CDR-chem/, "
            "DDI/, ...); where each comes from: docs/finetune.md, \"Clinical tasks and BLUE\"")
    names = [r["task"] for r in results]
    text = table(results, skipped, failed, split)
    write_json(f"{output}/blue.json", {
        "split": split, "tasks": names, "skipped": [{"task": name, "source": source(name)} for name in skipped],
        "failed": failed, "read_as_blurb": {name: BLUE_DIFFERENCES[name] for name in names
                                            if name in BLUE_DIFFERENCES},
        "clinical": [name for name in names if name in CLINICAL_TASKS],
        "published": anchors.as_json(names, anchors.BLUE_MODELS)})
    write_atomically(f"{output}/blue.md", text)
    print(text, end="")
    if failed:
        log.error("%d of %d tasks diverged and have no score: %s (see %s/blue.md)", len(failed),
                  len(ran), ", ".join(failed), output)
        return NonFiniteError.exit_status
    return 0
