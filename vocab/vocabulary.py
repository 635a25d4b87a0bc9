"""The vocabulary directory contract, `vocab.txt` + `tokenizer_config.json`: parsed and written as bytes.

Every stage reads a vocabulary through this module (the TFRecords job, pretraining, fine-tuning, the vocab job's
report) and the vocab job writes one with it, so that they cannot disagree on what a vocabulary is:

- `vocab.txt`: one token per line, id = line number (0-based). Trailing whitespace (a `\\r` of a file saved on
  Windows) is dropped, as BERT and HF `tokenizers` do; a blank line stays a token that never matches, so later
  ids do not shift (SciBERT's scivocab has one). `[PAD]` must be id 0 (ELECTRA pads with 0) and `[UNK] [CLS]
  [SEP] [MASK]` must exist.
- `tokenizer_config.json`: Hugging Face's keys (`transformers.AutoTokenizer.from_pretrained(DIR)` loads the
  directory unchanged); `do_lower_case` and `strip_accents` are the settings that data and training must share.
  A null or absent `strip_accents` follows `do_lower_case`, as in BERT.
- `tokenizer.json`: the same WordPiece tokenizer as a Hugging Face `tokenizers` fast tokenizer (normaliser,
  pre-tokenizer, model, `[CLS] A [SEP] B [SEP]` post-processor), built from `vocab.txt` and the settings above by
  `vocab.fast_path.reference_tokenizer`: `transformers.AutoTokenizer` and `tokenizers.Tokenizer.from_file` read
  it directly (a derived file: `vocab.txt` and `tokenizer_config.json` stay the contract).
- `sha256` identifies the token list (the normalised file: one token and `\\n` per line), so a copy with other
  line endings is the same vocabulary.

No I/O here: the Beam jobs read and write the files through Beam's FileSystems (`pipelines.common`), the
TensorFlow side through `tf.io.gfile` (`pretrain.files`); both hand this module bytes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import posixpath
from typing import Callable, Mapping, Optional, Sequence

log = logging.getLogger(__name__)

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer_config.json"
FAST_TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MODEL_MAX_LENGTH = 512
# The settings that data records and that training and fine-tuning check against the vocabulary they are given.
SETTINGS = ("vocab_size", "vocab_sha256", "do_lower_case", "strip_accents")


class VocabError(ValueError):
    """A vocabulary directory is missing, malformed, or disagrees with the settings data was built with."""


def parse_vocab(data: bytes, source: str = VOCAB_FILE) -> list[str]:
    """The tokens of a vocab.txt, one per line (see the module docstring for the rules)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise VocabError(f"{source}:{line}: not UTF-8 (byte 0x{data[err.start]:02x}); a vocab.txt is UTF-8, one "
                         f"token per line") from None
    lines = text.split("\n")  # not splitlines(): a token may hold U+2028 or other line separators
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip() for line in lines]


def vocab_bytes(tokens: Sequence[str]) -> bytes:
    """A vocab.txt's bytes: one token and a newline per line."""
    return "".join(token + "\n" for token in tokens).encode("utf-8")


def tokenizer_config(vocab_size: int, do_lower_case: bool, strip_accents: bool) -> dict:
    """The `tokenizer_config.json` contents: HF's keys, so transformers loads the directory unchanged."""
    return {
        "do_lower_case": bool(do_lower_case),
        "strip_accents": bool(strip_accents),
        "tokenize_chinese_chars": True,
        "tokenizer_class": "ElectraTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "vocab_size": int(vocab_size),
    }


def fast_tokenizer_json(tokens: Sequence[str], do_lower_case: bool, strip_accents: bool,
                        tokenize_chinese_chars: bool = True, special_tokens: Sequence[str] = ()) -> bytes:
    """`tokenizer.json`: the vocabulary's WordPiece tokenizer as a Hugging Face `tokenizers` fast tokenizer, the
    one fine-tuning encodes with (`vocab.fast_path.reference_tokenizer`: BERT's normaliser and pre-tokenizer with
    these settings, `##` word-pieces, `[CLS] A [SEP] B [SEP]`). `special_tokens` (e.g. `[unused0]` slots that
    stand for entity markers) are never split. A repeated token keeps its last id, as in `Vocabulary.token_ids`."""
    from vocab.fast_path import reference_tokenizer  # imports `tokenizers`, which the readers here do not need

    ids = {token: index for index, token in enumerate(tokens) if token}
    tokenizer = reference_tokenizer(ids, do_lower_case, strip_accents, tokenize_chinese_chars)
    if special_tokens:
        tokenizer.add_special_tokens(list(special_tokens))
    return (tokenizer.to_str(pretty=True) + "\n").encode("utf-8")


def directory_files(tokens: Sequence[str], do_lower_case: bool, strip_accents: bool) -> list[tuple[str, bytes]]:
    """(file name, bytes) of a vocabulary directory, in the order to write them: the config goes last, so a
    reader that finds it also finds the complete vocab.txt (and tokenizer.json) it describes."""
    validate_tokens(tokens, "vocabulary", allow_blank=False)
    config = tokenizer_config(len(tokens), do_lower_case, strip_accents)
    return [(VOCAB_FILE, vocab_bytes(tokens)),
            (FAST_TOKENIZER_FILE, fast_tokenizer_json(tokens, do_lower_case, strip_accents)),
            (CONFIG_FILE, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())]


def validate_tokens(tokens: Sequence[str], source: str, allow_blank: bool = True) -> dict[str, int]:
    """Token -> id, refusing what a tokenizer cannot use: duplicates, surrounding whitespace, missing specials."""
    ids: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token != token.strip() or "\n" in token:
            raise VocabError(f"{source}: token {i} ({token!r}) has surrounding whitespace")
        if not token:
            if allow_blank:
                continue
            raise VocabError(f"{source}: token {i} is empty")
        if token in ids:
            raise VocabError(f"{source}: token {token!r} appears twice (ids {ids[token]} and {i})")
        ids[token] = i
    _special_ids(ids, source)
    return ids


def _special_ids(ids: Mapping[str, int], source: str) -> dict[str, int]:
    missing = [t for t in SPECIAL_TOKENS if t not in ids]
    if missing:
        raise VocabError(f"{source}: special tokens {missing} are missing")
    if ids["[PAD]"] != 0:
        raise VocabError(f"{source}: [PAD] must have id 0 (ELECTRA pads with 0), it has id {ids['[PAD]']}")
    return {t: ids[t] for t in SPECIAL_TOKENS}


def parse_config(data: Optional[bytes], source: str, require: bool = True) -> dict:
    """A tokenizer_config.json's contents with `do_lower_case` and the effective `strip_accents` filled in.

    `require=True` (the project's own directories): the file must exist and set both to true or false.
    `require=False` (any Hugging Face directory): an absent file means uncased, with a warning.
    """
    if data is None:
        if require:
            raise VocabError(
                f"no {posixpath.basename(source)} at {source}: the casing and accent settings (do_lower_case, "
                f"strip_accents) that data and training must share are unknown; write the directory with "
                f"pipelines.vocab (or vocab.vocabulary.directory_files)")
        log.warning("%s not found: assuming an uncased vocabulary (do_lower_case=true)", source)
        config: dict = {}
    else:
        try:
            config = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise VocabError(f"{source} is not valid JSON: {err}") from err
        if not isinstance(config, dict):
            raise VocabError(f"{source} is not a JSON object")
    for key in ("do_lower_case", "strip_accents"):
        # Required: true or false. Otherwise absent or null may stand for the default, but a string such as
        # "false" must not be read as true.
        if (require or config.get(key) is not None) and not isinstance(config.get(key), bool):
            raise VocabError(f"{source} must set {key} to true or false, found {config.get(key)!r}")
    do_lower_case = bool(config.get("do_lower_case", True))
    strip_accents = config.get("strip_accents")
    return {**config, "do_lower_case": do_lower_case,
            "strip_accents": do_lower_case if strip_accents is None else bool(strip_accents)}


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """A parsed vocabulary directory: its tokens, settings and special-token ids."""

    directory: str
    tokens: tuple[str, ...]
    config: dict  # tokenizer_config.json as read, with do_lower_case / strip_accents filled in
    sha256: str = dataclasses.field(init=False)
    special_ids: dict = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(vocab_bytes(self.tokens)).hexdigest())
        first: dict[str, int] = {}
        for index, token in enumerate(self.tokens):
            first.setdefault(token, index)
        object.__setattr__(self, "special_ids", _special_ids(first, self.vocab_path))

    @property
    def vocab_path(self) -> str:
        return join(self.directory, VOCAB_FILE)

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def do_lower_case(self) -> bool:
        return self.config["do_lower_case"]

    @property
    def strip_accents(self) -> bool:
        return self.config["strip_accents"]

    @property
    def tokenize_chinese_chars(self) -> bool:
        return bool(self.config.get("tokenize_chinese_chars", True))

    pad_id = property(lambda self: self.special_ids["[PAD]"])
    unk_id = property(lambda self: self.special_ids["[UNK]"])
    cls_id = property(lambda self: self.special_ids["[CLS]"])
    sep_id = property(lambda self: self.special_ids["[SEP]"])
    mask_id = property(lambda self: self.special_ids["[MASK]"])

    def token_ids(self) -> dict[str, int]:
        """Token -> id as BERT and HF read a vocab.txt (a repeated token keeps its last id)."""
        return {token: index for index, token in enumerate(self.tokens)}

    def settings(self) -> dict:
        """What data built with this vocabulary records, and what later stages check (see `SETTINGS`)."""
        return {"vocab_size": self.size, "vocab_sha256": self.sha256,
                "do_lower_case": self.do_lower_case, "strip_accents": self.strip_accents}


def join(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}" if directory else name


def read_vocabulary(directory: str, read: Callable[[str], bytes], require_config: bool = True) -> Vocabulary:
    """The vocabulary in `directory`; `read(path) -> bytes` is the caller's file system (raises
    FileNotFoundError for a missing file). `require_config` as in `parse_config`."""
    directory = directory.rstrip("/")
    vocab_path = join(directory, VOCAB_FILE)
    try:
        tokens = parse_vocab(read(vocab_path), vocab_path)
    except FileNotFoundError:
        raise VocabError(f"{vocab_path} not found: a vocabulary directory holds {VOCAB_FILE} and "
                         f"{CONFIG_FILE}") from None
    config_path = join(directory, CONFIG_FILE)
    try:
        config_data: Optional[bytes] = read(config_path)
    except FileNotFoundError:
        config_data = None
    config = parse_config(config_data, config_path, require_config)
    if config.get("vocab_size") is not None and config["vocab_size"] != len(tokens):
        raise VocabError(f"{directory}: {CONFIG_FILE} says vocab_size={config['vocab_size']} but {VOCAB_FILE} "
                         f"has {len(tokens)} tokens")
    return Vocabulary(directory, tuple(tokens), config)


def setting_conflicts(recorded: Mapping, actual: Mapping) -> list[str]:
    """`key: expected X, vocabulary has Y` for every setting in both mappings that differs."""
    return [f"{key}: expected {recorded[key]!r}, vocabulary has {actual[key]!r}"
            for key in sorted(recorded) if key in actual and recorded[key] != actual[key]]


def check_compatible(actual: Mapping, expected: Mapping) -> None:
    """Raise VocabError when a setting in `expected` (e.g. recorded with the data) differs from `actual`."""
    conflicts = setting_conflicts(expected, actual)
    if conflicts:
        raise VocabError("tokenizer settings disagree with how the data was built: " + "; ".join(conflicts))
