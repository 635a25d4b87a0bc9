"""Learn a WordPiece vocabulary from word counts (not raw text) with SentencePiece's BPE trainer.

Why SentencePiece BPE, fed word counts (measured in benchmarks/vocab.py, figures in the README):
- it trains from counts natively (`input_format="tsv"`: "word<TAB>count" lines), so the learner's time and
  memory grow with the number of *distinct* words, not with the corpus; HF `tokenizers`' WordPiece trainer
  only takes text and counts each occurrence itself, so feeding it counts means replaying every occurrence
  (tens of billions of words at PubMed scale);
- HF's "WordPiece" trainer is itself BPE with a `##` prefix, and the vocabularies come out equally good
  (pieces per word on held-apart GENIA within 0.7% at 8,000 entries, 0.1% at 16,000); SentencePiece's
  unigram model was clearly worse once its pieces are used by WordPiece's greedy longest match (5% more
  pieces per word at 8,000 entries, 18% at 12,000);
- SciBERT built scivocab the same way (SentencePiece, converted to WordPiece).

Conversion: each word is one SentencePiece "sentence", so a piece never spans words; a piece starting with
"▁" begins a word and becomes a plain token, any other piece becomes a "##" continuation. The alphabet (every
character in the position it occurs in: "c" at the start of a word, "##c" inside one) is added explicitly,
so no character of the corpus turns into [UNK] unless the alphabet cap drops it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from vocab.vocabulary import SPECIAL_TOKENS, VocabError

logger = logging.getLogger(__name__)

WORD_BOUNDARY = "\u2581"  # SentencePiece's "▁"
CONTINUATION = "##"
DEFAULT_MAX_PIECE_LENGTH = 16  # SentencePiece's default; scivocab's longest piece has 16 characters


def alphabet_forms(word: str) -> list[str]:
    """The alphabet entries a word needs: its first character as a word start, the rest as continuations."""
    return [word[0]] + [CONTINUATION + char for char in word[1:]]


def default_max_alphabet(vocab_size: int) -> int:
    return vocab_size // 10


def unused_token(i: int) -> str:
    return f"[unused{i}]"


@dataclass
class LearnedVocab:
    tokens: list[str]
    stats: dict = field(default_factory=dict)


def learn_wordpiece(
    word_counts: Iterable[tuple[str, int]],
    alphabet: Mapping[str, int],
    vocab_size: int,
    num_unused: int = 0,
    max_alphabet: int | None = None,
    max_piece_length: int = DEFAULT_MAX_PIECE_LENGTH,
    threads: int | None = None,
) -> LearnedVocab:
    """Exactly `vocab_size` tokens: [PAD] [UNK] [CLS] [SEP] [MASK], [unused0..num_unused-1], the alphabet
    (most frequent first), then learned pieces in BPE merge order.

    `word_counts`: (word, occurrences) of the words to learn from (already capped by count and length).
    `alphabet`: occurrences of each alphabet form (see `alphabet_forms`) over *all* words of the corpus,
    so that characters of rare words are present too. At most `max_alphabet` forms are kept (default a tenth
    of the vocabulary; BERT's own vocabulary spends ~2,000 of 30,522 entries on single characters).
    If the corpus supports fewer pieces than asked, the remaining entries are further `[unusedN]` slots
    (reported in `stats["filler_unused"]`), so the file always has exactly `vocab_size` lines.
    Deterministic: the words are sorted before training.
    """
    fixed = list(SPECIAL_TOKENS) + [unused_token(i) for i in range(num_unused)]
    max_alphabet = default_max_alphabet(vocab_size) if max_alphabet is None else max_alphabet
    ranked = sorted(alphabet.items(), key=lambda item: (-item[1], item[0]))
    kept_alphabet = [form for form, _ in ranked[:max_alphabet]]
    dropped = ranked[max_alphabet:]
    budget = vocab_size - len(fixed) - len(kept_alphabet)
    if budget < 0:
        raise VocabError(
            f"vocab_size={vocab_size} cannot hold the {len(fixed)} special/unused tokens and the "
            f"{len(kept_alphabet)} alphabet entries; raise --vocab-size or lower --max-alphabet/--num-unused")
    if dropped:
        logger.warning("alphabet cap %d drops %d rare characters (%d occurrences): they will be [UNK]",
                       max_alphabet, len(dropped), sum(count for _, count in dropped))

    words = sorted((word, count) for word, count in word_counts if WORD_BOUNDARY not in word)
    present = set(fixed) | set(kept_alphabet)
    learned: list[str] = []
    if budget and words:
        for piece in _sentencepiece_pieces(words, budget, max_piece_length, threads):
            # Single characters are the alphabet's business (and its cap's), not the learner's.
            if piece not in present and len(piece.removeprefix(CONTINUATION)) > 1:
                present.add(piece)
                learned.append(piece)
                if len(learned) == budget:
                    break
    filler = [unused_token(num_unused + i) for i in range(budget - len(learned))]
    if filler:
        logger.warning("the corpus supports only %d learned pieces; %d [unused] slots fill the vocabulary",
                       len(learned), len(filler))
    tokens = fixed + kept_alphabet + learned + filler
    assert len(tokens) == vocab_size and len(set(tokens)) == vocab_size
    stats = {
        "training_words": len(words),
        "training_word_occurrences": sum(count for _, count in words),
        "alphabet_size": len(alphabet),
        "alphabet_kept": len(kept_alphabet),
        "alphabet_dropped": len(dropped),
        "alphabet_dropped_occurrences": sum(count for _, count in dropped),
        "learned_pieces": len(learned),
        "filler_unused": len(filler),
    }
    return LearnedVocab(tokens, stats)


def _sentencepiece_pieces(words: list[tuple[str, int]], budget: int, max_piece_length: int,
                          threads: int | None) -> list[str]:
    """SentencePiece BPE over the counted words; pieces converted to WordPiece form, best first."""
    import io

    import sentencepiece

    # Ask for enough: SentencePiece's vocabulary also holds <unk>, "▁" and every single character, and
    # merges that make a one-character word start ("▁c") are alphabet entries, not learned pieces.
    characters = len({char for word, _ in words for char in word})
    requested = budget + 2 * characters + 2
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=(f"{word}\t{count}" for word, count in words),
        model_writer=model,
        input_format="tsv",
        model_type="bpe",
        vocab_size=requested,
        hard_vocab_limit=False,  # a small corpus yields fewer merges instead of an error
        character_coverage=1.0,
        normalization_rule_name="identity",  # words are already BERT-normalized
        split_by_number=False,  # "il2", "cd4", "h2o" are useful biomedical pieces (measured: fewer pieces)
        max_sentencepiece_length=max_piece_length,
        max_sentence_length=max(4192, 8 * max(len(word) for word, _ in words)),
        bos_id=-1,
        eos_id=-1,
        num_threads=threads or os.cpu_count() or 1,
        minloglevel=2,
    )
    processor = sentencepiece.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = []
    for i in range(processor.get_piece_size()):  # ids are in score order: merge rank for BPE
        if processor.is_unknown(i) or processor.is_control(i):
            continue
        piece = processor.id_to_piece(i)
        if piece.startswith(WORD_BOUNDARY):
            if len(piece) > 1:
                pieces.append(piece[1:])
        else:
            pieces.append(CONTINUATION + piece)
    return pieces


def count_threshold(histogram: Mapping[int, int], min_count: int, max_words: int) -> int:
    """The smallest count >= `min_count` such that at most `max_words` distinct words occur that often.

    `histogram` maps an occurrence count to how many distinct words have it. This bounds the learner's
    memory by `max_words` whatever the corpus size; the README gives the memory per word.
    """
    kept = 0
    for count in sorted((c for c in histogram if c >= min_count), reverse=True):
        if kept + histogram[count] > max_words:
            return count + 1  # the words seen this often would break the cap: keep only those seen more
        kept += histogram[count]
    return min_count
