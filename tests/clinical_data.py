"""Small clinical-task files in the exact formats they are distributed in, written by the tests: the data
sits behind data-use agreements (PhysioNet, n2c2, Mayo Clinic) and cannot be shipped. Every sentence here is
made up for the tests; the formats are:

- MedNLI 1.0.0 (PhysioNet): `mednli/mli_{train,dev,test}_v1.jsonl`, one SNLI-style JSON object per line with
  `sentence1`, `sentence2`, `gold_label` (entailment, contradiction, neutral), `pairID` and the parse fields
  `sentence{1,2}_parse`, `sentence{1,2}_binary_parse`, which are not read;
- the BioNLP 2019 MEDIQA NLI test: `mednli_bionlp_shared_task.jsonl` (the same fields, no `gold_label`) and
  `mednli_bionlp_shared_task_ground_truth.csv` (`pair_id,label`);
- BLUE's preprocessed MedSTS: `MedSTS/{train,dev,test}.tsv`, header `index sentence1 sentence2 score`, 0-5;
- BLUE's ShARe/CLEFE: `clefe/{Training,Development,Test}.tsv`, `word<TAB>file<TAB>offset<TAB>B|I|O`, a blank
  line between sentences;
- BLUE's i2b2 2010 relations: `i2b2-2010/{train,dev,test}.tsv`, header `index sentence label`, concepts
  masked as `@problem$`, `@treatment$`, `@test$`, labels TrIP ... PIP and `false`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

CONDITIONS = ["pneumonia", "atrial fibrillation", "hypertension", "acute kidney injury", "sepsis",
              "congestive heart failure", "diabetes", "anemia", "cellulitis", "asthma", "cirrhosis",
              "pancreatitis"]
DRUGS = ["metoprolol", "vancomycin", "insulin", "furosemide", "heparin", "lisinopril"]
TESTS = ["chest x-ray", "echocardiogram", "CT scan", "blood culture"]


def _parse(sentence: str) -> str:
    """A stand-in for the Stanford parse MedNLI carries (never read)."""
    words = sentence.rstrip(".").split()
    return "(ROOT (S " + " ".join(f"(NN {w})" for w in words) + " (. .)))"


def _binary(sentence: str) -> str:
    return "( " + " ".join(sentence.rstrip(".").split()) + " . )"


def nli_pairs(start: int, count: int) -> list[tuple[str, str, str, str]]:
    """(pairID, sentence1, sentence2, gold_label): one premise per condition, its three hypotheses."""
    pairs = []
    for k in range(start, start + count):
        condition = CONDITIONS[(k // 3) % len(CONDITIONS)]
        drug = DRUGS[k % len(DRUGS)]
        premise = f"The patient was admitted with {condition} and started on {drug}."
        kind = ("entailment", "contradiction", "neutral")[k % 3]
        hypothesis = {"entailment": f"The patient has {condition}.",
                      "contradiction": f"The patient has no history of {condition}.",
                      "neutral": f"The patient has a family history of {condition}."}[kind]
        pairs.append((f"{k:08x}-66c7-11e7-a8dc-f45c89b91419", premise, hypothesis, kind))
    return pairs


def mednli_line(pair: str, first: str, second: str, label: str | None) -> str:
    record = {"sentence1": first, "pairID": pair, "sentence1_parse": _parse(first),
              "sentence1_binary_parse": _binary(first), "sentence2": second,
              "sentence2_parse": _parse(second), "sentence2_binary_parse": _binary(second)}
    if label is not None:
        record["gold_label"] = label
    return json.dumps(record) + "\n"


def medsts_rows(start: int, count: int) -> list[str]:
    rows = []
    for k in range(start, start + count):
        condition = CONDITIONS[k % len(CONDITIONS)]
        drug = DRUGS[k % len(DRUGS)]
        level = k % 6
        first = f"Patient reports {condition} and takes {drug} daily."
        second = {5: f"Patient reports {condition} and takes {drug} every day.",
                  4: f"Patient has {condition} and is on {drug}.",
                  3: f"Patient has {condition}.",
                  2: f"Patient takes {drug}.",
                  1: f"Follow up with primary care for {condition} in two weeks.",
                  0: "Denies fevers, chills or night sweats."}[level]
        rows.append(f"{k}\t{first}\t{second}\t{level - 0.5 * (k % 2) if level else 0.0}\n")
    return rows


def clefe_sentences(start: int, count: int) -> list[str]:
    """Sentences of made-up notes as BLUE's CLEFE files hold them: word, note file, offset, tag."""
    sentences = []
    for k in range(start, start + count):
        condition = CONDITIONS[k % len(CONDITIONS)].split()
        words = ["History", "of", *condition, "and", "chest", "pain", "."] if k % 2 else \
            ["No", "evidence", "of", *condition, "on", "exam", "."]
        tags = ["O", "O", "B", *["I"] * (len(condition) - 1), "O", "B", "I", "O"] if k % 2 else \
            ["O", "O", "O", "B", *["I"] * (len(condition) - 1), "O", "O", "O"]
        name = f"{k:05d}-{100000 + k:06d}-DISCHARGE_SUMMARY.txt"
        offset, lines = 0, []
        for word, tag in zip(words, tags):
            lines.append(f"{word}\t{name}\t{offset}\t{tag}\n")
            offset += len(word) + 1
        sentences.append("".join(lines))
    return sentences


I2B2 = [("TrAP", "@treatment$ was given for @problem$ ."),
        ("TrIP", "@problem$ improved after @treatment$ ."),
        ("TrWP", "@problem$ worsened despite @treatment$ ."),
        ("TeRP", "@test$ revealed @problem$ ."),
        ("TeCP", "@test$ was done to evaluate @problem$ ."),
        ("PIP", "@problem$ secondary to @problem$ ."),
        ("false", "@treatment$ was continued and @problem$ resolved ."),
        ("TrNAP", "@treatment$ was held because of @problem$ ."),
        ("TrCP", "@treatment$ caused @problem$ .")]


def i2b2_rows(start: int, count: int) -> list[str]:
    """Every other row a pair without a relation (`false`), as most concept pairs are; the others cycle
    through the eight relations."""
    positive = [row for row in I2B2 if row[0] != "false"]
    negative = [row for row in I2B2 if row[0] == "false"]
    rows = []
    for k in range(start, start + count):
        label, sentence = negative[0] if k % 2 else positive[(k // 2) % len(positive)]
        rows.append(f"{k}\tOn hospital day {k % 7 + 1} , {sentence}\t{label}\n")
    return rows


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))  # LF line ends, UTF-8 without a byte-order mark
    return path


SIZES = {"train": (0, 36), "dev": (36, 12), "test": (48, 12)}
MEDIQA_TEST = (60, 9)


def write_clinical_directory(root: Path) -> Path:
    """`root` holding the four clinical tasks (and the MEDIQA 2019 test) in their distributed layouts."""
    names = {"train": "mli_train_v1.jsonl", "dev": "mli_dev_v1.jsonl", "test": "mli_test_v1.jsonl"}
    for split, (start, count) in SIZES.items():
        _write(root / "mednli" / names[split],
               "".join(mednli_line(*pair) for pair in nli_pairs(start, count)))
        _write(root / "MedSTS" / f"{split}.tsv",
               "index\tsentence1\tsentence2\tscore\n" + "".join(medsts_rows(start, count)))
        clefe = {"train": "Training.tsv", "dev": "Development.tsv", "test": "Test.tsv"}[split]
        _write(root / "clefe" / clefe, "\n".join(clefe_sentences(start, count)) + "\n")
        _write(root / "i2b2-2010" / f"{split}.tsv", "index\tsentence\tlabel\n" + "".join(i2b2_rows(start, count)))
    pairs = nli_pairs(*MEDIQA_TEST)
    _write(root / "mednli/mednli_bionlp_shared_task.jsonl",
           "".join(mednli_line(pair, first, second, None) for pair, first, second, _ in pairs))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pair_id", "label"])
    writer.writerows([pair, label] for pair, _, _, label in pairs)
    _write(root / "mednli/mednli_bionlp_shared_task_ground_truth.csv", buffer.getvalue())
    return root
