"""Hugging Face (transformers) ELECTRA and BERT model directories on the pretraining side.

The one map between this model's variables (their original ELECTRA TF1 names) and transformers' tensor
names is `hf_name`: `export` writes with it, `train --init-checkpoint/--init-generator` and `finetune` (which
imports this module) read with it, backwards. A directory holds `config.json`, `model.safetensors` (what
transformers' `save_pretrained` writes) or `pytorch_model.bin` (what Google's ELECTRA repositories on the hub
ship; read through PyTorch when it is installed) and `vocab.txt`. Everything goes through `tf.io.gfile`.
"""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Callable, Iterable, NamedTuple

import numpy as np
import tensorflow as tf

from pretrain.config import MODEL_SIZES, EncoderConfig, PretrainConfig
from pretrain.errors import PretrainError
from pretrain.files import read_vocabulary
from pretrain.model import LAYER_NORM_EPSILON, ElectraModel
from vocab.vocabulary import Vocabulary

log = logging.getLogger(__name__)

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TORCH_WEIGHTS = "pytorch_model.bin"
EXPORT_PREFIX = "electra."  # what hf_name puts before an encoder's tensors


class CheckpointError(PretrainError):
    """A model directory whose contents this encoder cannot take (the message names what)."""


def hf_name(tf1_name: str) -> tuple[str, bool]:
    """Original name -> (transformers name, transpose?), the mapping HF's ELECTRA converter uses.
    The generator's encoder becomes `electra.` in its own ElectraForMaskedLM."""
    name = re.sub(r"^(electra|generator)/", "electra/", tf1_name)
    name = re.sub(r"layer_(\d+)", r"layer/\1", name)
    name = name.replace("discriminator_predictions/dense_1", "discriminator_predictions/dense_prediction")
    name = name.replace("generator_predictions/output_bias", "generator_lm_head/bias")
    transpose = name.endswith("/kernel")
    name = re.sub(r"/(kernel|gamma)$", "/weight", name)
    name = re.sub(r"/beta$", "/bias", name)
    name = re.sub(r"_embeddings$", "_embeddings/weight", name)
    return name.replace("/", "."), transpose


def hf_config(encoder: EncoderConfig, config: PretrainConfig, architecture: str) -> dict:
    return {
        "architectures": [architecture], "model_type": "electra",
        "vocab_size": encoder.vocab_size, "embedding_size": encoder.embedding_size,
        "hidden_size": encoder.hidden_size, "num_hidden_layers": encoder.num_hidden_layers,
        "num_attention_heads": encoder.num_attention_heads,
        "intermediate_size": encoder.intermediate_size, "hidden_act": "gelu",
        "hidden_dropout_prob": encoder.hidden_dropout_prob,
        "attention_probs_dropout_prob": encoder.attention_probs_dropout_prob,
        "max_position_embeddings": encoder.max_position_embeddings,
        "type_vocab_size": encoder.type_vocab_size, "initializer_range": encoder.initializer_range,
        "layer_norm_eps": LAYER_NORM_EPSILON, "pad_token_id": config.pad_id,
        "position_embedding_type": "absolute", "tie_word_embeddings": True,
        "summary_type": "first", "summary_use_proj": True, "summary_activation": "gelu",
        "summary_last_dropout": 0.1, "torch_dtype": "float32",
    }


# Model types whose encoder is this project's: BERT is ELECTRA's encoder with no embedding
# projection (embedding_size == hidden_size).
HF_MODEL_TYPES = ("electra", "bert")
_HF_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size")


def encoder_config_from_hf(hf: dict, source: str = "config.json") -> EncoderConfig:
    """The reverse of `hf_config` for any ELECTRA or BERT `config.json`; raises PretrainError,
    naming the field, for what this model does not implement."""
    if hf.get("model_type") not in HF_MODEL_TYPES:
        raise PretrainError(f"{source}: model_type {hf.get('model_type')!r} is not supported "
                            f"(only {', '.join(HF_MODEL_TYPES)})")
    unsupported = {
        "hidden_act": (hf.get("hidden_act", "gelu"), "gelu"),
        "position_embedding_type": (hf.get("position_embedding_type", "absolute"), "absolute"),
        "layer_norm_eps": (hf.get("layer_norm_eps", LAYER_NORM_EPSILON), LAYER_NORM_EPSILON),
        "is_decoder": (bool(hf.get("is_decoder")), False),
        "add_cross_attention": (bool(hf.get("add_cross_attention")), False)}
    for field, (value, supported) in unsupported.items():
        if value != supported:
            raise PretrainError(f"{source}: {field}={value!r} is not supported: this encoder "
                                f"implements {field}={supported!r} only")
    missing = [field for field in _HF_REQUIRED if field not in hf]
    if missing:
        raise PretrainError(f"{source} lacks {', '.join(missing)}")
    if hf["hidden_size"] % hf["num_attention_heads"]:
        raise PretrainError(f"{source}: hidden_size {hf['hidden_size']} is not a multiple of "
                            f"num_attention_heads {hf['num_attention_heads']}")
    return EncoderConfig(
        vocab_size=hf["vocab_size"], hidden_size=hf["hidden_size"],
        num_hidden_layers=hf["num_hidden_layers"], num_attention_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"],
        embedding_size=hf.get("embedding_size") or hf["hidden_size"],
        max_position_embeddings=hf["max_position_embeddings"],
        type_vocab_size=hf["type_vocab_size"],
        hidden_dropout_prob=hf.get("hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=hf.get("attention_probs_dropout_prob", 0.1),
        initializer_range=hf.get("initializer_range", 0.02))


def is_model_directory(path: str) -> bool:
    """A Hugging Face model directory (it has config.json) rather than a pretraining run."""
    return tf.io.gfile.exists(f"{path.rstrip('/')}/{CONFIG}")


def read_encoder_config(directory: str, need_vocab: bool = True) -> EncoderConfig:
    """DIR/config.json -> the encoder's hyperparameters; DIR/vocab.txt, required unless `need_vocab` is
    False, must match its vocab_size."""
    directory = directory.rstrip("/")
    path = f"{directory}/{CONFIG}"
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{path} not found: is {directory} a Hugging Face model directory?")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column "
                              f"{error.colno})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not valid JSON: not UTF-8") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object (a transformers config), got "
                              f"{type(values).__name__}")
    config = encoder_config_from_hf(values, path)
    if not tf.io.gfile.exists(f"{directory}/vocab.txt"):
        if not need_vocab:
            return config
        raise FileNotFoundError(f"{directory} has no vocab.txt: the model's WordPiece vocabulary is "
                                "needed (a tokenizer.json alone is not read)")
    size = read_vocabulary(directory).size
    if size != config.vocab_size:
        raise CheckpointError(f"{directory}/vocab.txt has {size} tokens but {path} says "
                              f"vocab_size={config.vocab_size}: they belong to different models")
    return config


class Tensor(NamedTuple):
    """A stored tensor's shape and a function giving its values as float32, read only when used."""

    shape: list[int]
    load: Callable[[], np.ndarray]


_OLD_LAYER_NORM = re.compile(r"(?<=LayerNorm\.)(gamma|beta)$")
_NEW_LAYER_NORM = {"gamma": "weight", "beta": "bias"}
_FLOATS = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def _new_name(name: str) -> str:
    """LayerNorm's old gamma/beta names become weight/bias, as transformers renames them on load."""
    return _OLD_LAYER_NORM.sub(lambda m: _NEW_LAYER_NORM[m.group(1)], name)


def read_tensors(directory: str) -> dict[str, Tensor]:
    """The weights of a model directory by name: model.safetensors, else pytorch_model.bin."""
    directory = directory.rstrip("/")
    path = f"{directory}/{WEIGHTS}"
    if tf.io.gfile.exists(path):
        return _read_safetensors(path)
    if tf.io.gfile.exists(f"{directory}/{TORCH_WEIGHTS}"):
        return _read_torch(f"{directory}/{TORCH_WEIGHTS}")
    others = [name for name in ("model.safetensors.index.json", "pytorch_model.bin.index.json",
                                "tf_model.h5", "flax_model.msgpack")
              if tf.io.gfile.exists(f"{directory}/{name}")]
    hint = (f" (it has {', '.join(others)}: transformers' save_pretrained(DIR, "
            "max_shard_size='100GB') writes the single model.safetensors read here)" if others else "")
    raise FileNotFoundError(f"{path} does not exist, nor {TORCH_WEIGHTS}{hint}")


def _read_safetensors(path: str) -> dict[str, Tensor]:
    import safetensors

    with tf.io.gfile.GFile(path, "rb") as f:
        entries = safetensors.deserialize(f.read())

    def loader(name: str, entry: dict) -> Callable[[], np.ndarray]:
        return lambda: _float32(entry["dtype"], entry["shape"], entry["data"], name)

    return {_new_name(name): Tensor(list(entry["shape"]), loader(name, entry)) for name, entry in entries}


def _float32(dtype: str, shape: list[int], data: bytes, name: str) -> np.ndarray:
    if dtype == "BF16":  # numpy has no bfloat16: its bits are a float32's upper half
        values = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif dtype in _FLOATS:
        values = np.frombuffer(data, _FLOATS[dtype]).astype(np.float32, copy=False)
    else:
        raise CheckpointError(f"{name} has dtype {dtype}; weights must be floating point")
    return values.reshape(shape)


def _read_torch(path: str) -> dict[str, Tensor]:
    """pytorch_model.bin through PyTorch's own reader (weights only: no code in the pickle runs)."""
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"{path}: reading {TORCH_WEIGHTS} needs PyTorch (pip install torch), or convert the directory once "
            f"where transformers is installed: python -c \"import transformers as t; "
            f"t.AutoModel.from_pretrained('DIR').save_pretrained('DIR')\" writes {WEIGHTS}") from None
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user error
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a PyTorch state dict PyTorch can read: {reason}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        if not value.is_floating_point():
            # transformers' position_ids and the like are buffers, not weights: kept out of the check.
            tensors[_new_name(name)] = Tensor(list(value.shape), _refuse_integer(name, str(value.dtype)))
            continue
        tensors[_new_name(name)] = Tensor(list(value.shape),
                                          lambda v=value: v.detach().float().numpy().copy())
    return tensors


def _refuse_integer(name: str, dtype: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        raise CheckpointError(f"{name} has dtype {dtype}; weights must be floating point")
    return load


def model_prefix(tensors: dict[str, Tensor], path: str) -> str:
    """`electra.`/`bert.` for the task models (ElectraForPreTraining, BertForMaskedLM, ...), nothing for the
    bare ElectraModel/BertModel."""
    prefixes = [p for p in {name.split(".", 1)[0] + "." for name in tensors} | {""}
                if f"{p}embeddings.word_embeddings.weight" in tensors]
    if len(prefixes) != 1:
        found = ", ".join(f"{p}embeddings.word_embeddings.weight" for p in sorted(prefixes))
        raise CheckpointError(f"{path} needs exactly one word embedding table "
                              f"(embeddings.word_embeddings.weight), found: {found or 'none'}")
    return prefixes[0]


def source_name(tf1_name: str, prefix: str) -> tuple[str, bool]:
    """A variable's tensor name in a directory whose encoder sits under `prefix`, and whether to transpose."""
    name, transpose = hf_name(tf1_name)
    if name.startswith(EXPORT_PREFIX):
        name = prefix + name[len(EXPORT_PREFIX):]
    return name, transpose


def has_any(named: Iterable[tuple[str, tf.Variable]], tensors: dict[str, Tensor], prefix: str) -> bool:
    return any(source_name(name, prefix)[0] in tensors for name, _ in named)


def values_for(named: Iterable[tuple[str, tf.Variable]], tensors: dict[str, Tensor], prefix: str,
               path: str) -> list[tuple[str, tf.Variable, np.ndarray]]:
    """(tensor name, variable, value in the variable's layout) for each variable; every missing or
    misshapen tensor is named in one CheckpointError."""
    found, missing, mismatched = [], [], []
    for tf1_name, variable in named:
        name, transpose = source_name(tf1_name, prefix)
        expected = variable.shape.as_list()[::-1] if transpose else variable.shape.as_list()
        if name not in tensors:
            missing.append(name)
        elif tensors[name].shape != expected:
            mismatched.append(f"{name} {tensors[name].shape} (config.json implies {expected})")
        else:
            value = tensors[name].load()
            found.append((name, variable, value.T if transpose else value))
    if missing or mismatched:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected shape: {'; '.join(mismatched)}"] if mismatched else [])
        raise CheckpointError(f"{path} does not fit its config.json: {'; '.join(problems)}")
    return found


def assign(named: Iterable[tuple[str, tf.Variable]], tensors: dict[str, Tensor], prefix: str,
           path: str) -> set[str]:
    """Loads each variable from its tensor (all checked first: nothing is assigned when one is wrong);
    returns the tensor names used."""
    found = values_for(named, tensors, prefix, path)
    for _, variable, value in found:
        variable.assign(value)
    return {name for name, _, _ in found}


# ---- Continued pretraining: a transformers discriminator (and generator) as the trainer's starting point.

# The PretrainConfig fields a model directory fixes. Dropout and the initializer range stay the run's.
ARCHITECTURE = ("vocab_size", "hidden_size", "num_hidden_layers", "embedding_size", "num_attention_heads",
                "intermediate_size", "max_position_embeddings", "type_vocab_size")
GENERATOR_ARCHITECTURE = ("generator_hidden_fraction", "generator_layers_fraction")
# What --model-size decides about the architecture (the rest are its training hyperparameters).
_SIZE_FIELDS = ("hidden_size", "num_hidden_layers", "embedding_size", "num_attention_heads",
                "intermediate_size")


def _effective(config: PretrainConfig) -> dict[str, int]:
    """The discriminator's and the generator's actual sizes (0 in the config means derived)."""
    disc, gen = config.discriminator(), config.generator()
    return {"hidden_size": disc.hidden_size, "num_hidden_layers": disc.num_hidden_layers,
            "embedding_size": disc.embedding_size, "num_attention_heads": disc.num_attention_heads,
            "intermediate_size": disc.intermediate_size, "generator hidden_size": gen.hidden_size,
            "generator num_hidden_layers": gen.num_hidden_layers}


def _listing(values: dict, keys: Iterable[str]) -> str:
    return ", ".join(f"{key}={values[key]}" for key in keys)


def checkpoint_architecture(discriminator: str, generator: str | None) -> dict:
    """The PretrainConfig fields that the directories' config.json files fix; refuses a generator that
    cannot share the discriminator's embeddings or that this trainer cannot build."""
    discriminator = discriminator.rstrip("/")
    disc = read_encoder_config(discriminator)
    arch = {"vocab_size": disc.vocab_size, "hidden_size": disc.hidden_size,
            "num_hidden_layers": disc.num_hidden_layers, "embedding_size": disc.embedding_size,
            "num_attention_heads": disc.num_attention_heads, "intermediate_size": disc.intermediate_size,
            "max_position_embeddings": disc.max_position_embeddings, "type_vocab_size": disc.type_vocab_size}
    if generator is None:
        return arch
    generator = generator.rstrip("/")
    gen = read_encoder_config(generator, need_vocab=False)
    shared = ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size")
    differ = [f"{key} {getattr(gen, key)} (discriminator: {getattr(disc, key)})" for key in shared
              if getattr(gen, key) != getattr(disc, key)]
    if differ:
        raise CheckpointError(f"--init-generator {generator}/{CONFIG} cannot share the discriminator's "
                              f"embeddings: {'; '.join(differ)}")
    if tf.io.gfile.exists(f"{generator}/vocab.txt"):
        theirs, ours = read_vocabulary(generator), read_vocabulary(discriminator)
        if theirs.sha256 != ours.sha256:
            raise CheckpointError(f"--init-generator {generator}/vocab.txt differs from --init-checkpoint "
                                  f"{discriminator}/vocab.txt (sha256 {theirs.sha256[:12]} and "
                                  f"{ours.sha256[:12]}): they belong to different models")
    arch.update(generator_hidden_fraction=gen.hidden_size / disc.hidden_size,
                generator_layers_fraction=gen.num_hidden_layers / disc.num_hidden_layers)
    built = PretrainConfig(**arch).generator()
    ours = {"hidden_size": built.hidden_size, "num_hidden_layers": built.num_hidden_layers,
            "num_attention_heads": built.num_attention_heads, "intermediate_size": built.intermediate_size}
    theirs = {key: getattr(gen, key) for key in ours}
    if ours != theirs:
        raise CheckpointError(
            f"--init-generator {generator}/{CONFIG} has {_listing(theirs, theirs)}; this trainer's generator "
            f"of that width has {_listing(ours, ours)} (max(1, hidden/64) heads, a 4 x hidden feed-forward)")
    return arch


def _matching_size(arch: dict, with_generator: bool) -> str | None:
    """The first published size whose architecture is the checkpoint's (the generator's too, if given)."""
    for size, values in MODEL_SIZES.items():
        ours = _effective(PretrainConfig(model_size=size, **values))
        theirs = _effective(PretrainConfig(**{**values, **arch}))
        keys = [*_SIZE_FIELDS, *(("generator hidden_size", "generator num_hidden_layers")
                                 if with_generator else ())]
        if all(ours[k] == theirs[k] for k in keys):
            return size
    return None


def sizes_from_checkpoint(discriminator: str, generator: str | None, model_size: str | None,
                          overrides: dict) -> tuple[str, dict]:
    """(model size, overrides) for a run that starts from a transformers discriminator (and generator).

    The architecture is the checkpoint's: `model_size` (the training hyperparameters: learning rate,
    warm-up, batch, steps) defaults to the published size of that architecture, else small's; an explicit
    `model_size` or an override (`--set`) that disagrees with config.json is refused, naming both values.
    Without a generator directory the generator's width stays the size's (or `--set`'s)."""
    arch = checkpoint_architecture(discriminator, generator)
    source = f"--init-checkpoint {discriminator.rstrip('/')}/{CONFIG}"
    if generator is not None:
        source += f" and --init-generator {generator.rstrip('/')}/{CONFIG}"
    size_keys = [*_SIZE_FIELDS, *(("generator hidden_size", "generator num_hidden_layers") if generator else ())]
    theirs = _effective(PretrainConfig(**{**MODEL_SIZES["small"], **arch}))
    if model_size is not None:
        ours = _effective(PretrainConfig(model_size=model_size, **MODEL_SIZES[model_size]))
        differ = [key for key in size_keys if ours[key] != theirs[key]]
        if differ:
            raise PretrainError(
                f"--model-size {model_size} has {_listing(ours, differ)} but {source} has "
                f"{_listing(theirs, differ)}: the sizes come from the checkpoint (leave out --model-size, "
                f"which then only picks the training hyperparameters of the published size with that shape)")
    for key, value in overrides.items():
        if key in ARCHITECTURE and value != arch[key]:
            if key in ("num_attention_heads", "intermediate_size") and value == 0 and (
                    _effective(PretrainConfig(**{**arch, key: 0}))[key] == arch[key]):
                continue  # 0 means derived, and the derived value is the checkpoint's
            raise PretrainError(f"--set {key}={value} disagrees with {source}, which has {key}={arch[key]}: "
                                "the sizes come from the checkpoint")
        if key in GENERATOR_ARCHITECTURE and generator is not None:
            wanted = _effective(PretrainConfig(**{**MODEL_SIZES["small"], **arch, key: value}))
            differ = [k for k in ("generator hidden_size", "generator num_hidden_layers")
                      if wanted[k] != theirs[k]]
            if differ:
                raise PretrainError(f"--set {key}={value} gives a generator with {_listing(wanted, differ)} "
                                    f"but {source} has {_listing(theirs, differ)}: the sizes come from "
                                    "the checkpoint")
    if model_size is None:
        model_size = _matching_size(arch, generator is not None) or _matching_size(arch, False)
        if model_size is None:
            model_size = "small"
            log.warning("no published size has the architecture of %s (%s): the training hyperparameters are "
                        "small's (learning rate, warm-up, batch, steps); change them with --set", source,
                        _listing(theirs, size_keys))
        else:
            log.info("%s has the architecture of ELECTRA-%s: its training hyperparameters apply",
                     source, model_size)
    merged = dict(overrides)
    merged.update(arch)
    return model_size, merged


def check_vocabulary(directory: str, vocab: Vocabulary) -> None:
    """The run's vocabulary (`--vocab`, which the data was checked against) must be the checkpoint's own:
    the embedding rows are its token ids."""
    directory = directory.rstrip("/")
    own = read_vocabulary(directory)
    if own.sha256 != vocab.sha256:
        same = " (the same size, other tokens)" if own.size == vocab.size else ""
        raise PretrainError(
            f"--init-checkpoint {directory} has a {own.size}-token vocabulary but --vocab {vocab.directory} "
            f"has {vocab.size} tokens{same} (vocab.txt sha256 {own.sha256[:12]} and {vocab.sha256[:12]}): "
            f"its embeddings are indexed by its own vocabulary, so the data must be tokenized with it "
            f"(--vocab {directory}, and shards built with that vocabulary)")
    for setting in ("do_lower_case", "strip_accents"):
        if getattr(own, setting) != getattr(vocab, setting):
            raise PretrainError(
                f"--init-checkpoint {directory} has {setting}={getattr(own, setting)} but --vocab "
                f"{vocab.directory} has {setting}={getattr(vocab, setting)}: the same vocab.txt, other "
                f"tokenization (use --vocab {directory})")


def load_pretraining_weights(model: ElectraModel, discriminator: str, generator: str | None) -> None:
    """Sets the trainer's model from a transformers ElectraForPreTraining directory and, optionally, an
    ElectraForMaskedLM one. The shared embeddings (word, position, token type, LayerNorm) are the
    discriminator's; a generator whose own copy differs is reported with the largest difference (a
    warning: ELECTRA trains them as one table, so a released pair has identical copies). Without a
    generator directory the generator keeps its fresh random weights."""
    discriminator = discriminator.rstrip("/")
    tensors = read_tensors(discriminator)
    path = weights_path(discriminator)
    prefix = model_prefix(tensors, path)
    named = [*model.embeddings.tf1_variables("electra/embeddings"), *model.discriminator.tf1_variables("electra")]
    head = list(model.discriminator_predictions.tf1_variables("discriminator_predictions"))
    with_head = has_any(head, tensors, prefix)
    if with_head:
        named += head
    else:
        log.warning("%s has no replaced-token head (discriminator_predictions.*, as ElectraForPreTraining "
                    "has): it starts from random weights", path)
    used = assign(named, tensors, prefix, path)
    log.info("discriminator and shared embeddings: %d tensors from %s", len(used), path)
    if generator is None:
        log.info("the generator starts from random weights (no --init-generator)")
        return
    generator = generator.rstrip("/")
    gen_tensors = read_tensors(generator)
    gen_path = weights_path(generator)
    gen_prefix = model_prefix(gen_tensors, gen_path)
    # The generator's own copy of the shared embeddings: compared, not loaded.
    copies = values_for(model.embeddings.tf1_variables("electra/embeddings"), gen_tensors, gen_prefix, gen_path)
    named = [*model.generator.tf1_variables("generator"),
             *model.generator_predictions.tf1_variables("generator_predictions")]
    used = assign(named, gen_tensors, gen_prefix, gen_path)
    differences = [(float(np.max(np.abs(value - variable.numpy()))), name) for name, variable, value in copies]
    tied = "generator_lm_head.weight"  # the output layer, tied to the word embeddings (absent when deduplicated)
    if tied in gen_tensors and gen_tensors[tied].shape == model.embeddings.word_embeddings.shape.as_list():
        differences.append((float(np.max(np.abs(gen_tensors[tied].load()
                                                - model.embeddings.word_embeddings.numpy()))), tied))
    worst, where = max(differences)
    log.info("generator: %d tensors from %s", len(used), gen_path)
    if worst > 0:
        log.warning("%s: the generator's embeddings differ from the discriminator's (max |difference| %.3g, in "
                    "%s): ELECTRA shares one copy, and the discriminator's is used", gen_path, worst, where)


def weights_path(directory: str) -> str:
    return (f"{directory}/{WEIGHTS}" if tf.io.gfile.exists(f"{directory}/{WEIGHTS}")
            else f"{directory}/{TORCH_WEIGHTS}")
