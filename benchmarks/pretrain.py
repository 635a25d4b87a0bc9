"""ELECTRA pretraining throughput: ours (TF2, `pretrain`) against Hugging Face transformers'
PyTorch ELECTRA, on this machine's CPU, in one run; prints examples/s of each and the ratio.

The same work on both sides: a generator (ElectraForMaskedLM) and a discriminator
(ElectraForPreTraining) of the same sizes sharing their embeddings, the same global batch of
full-length sequences, dynamic masking of mask_prob of the tokens (85% [MASK]), Gumbel sampling of
replacements, loss = MLM + 50 x replaced-token detection, backward, clipping to norm 1.0 and an
AdamW step with linear warm-up/decay. The PyTorch side is what a user would write around
transformers' models (as in its ELECTRA examples): the generator scores every position, as
ElectraForMaskedLM does; ours scores only the masked ones, as the original ELECTRA does.

Example: python -m benchmarks.pretrain --model-size small --batch-size 8 --max-seq-length 128
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]

log = logging.getLogger("benchmarks.pretrain")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-size", default="small", help="tiny, small, base or large")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter overrides, as for `python -m pretrain train`")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=30522,
                        help="BERT's uncased vocabulary size by default")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate the frameworks this many times; the best round counts "
                             "(fairer on a machine shared with other work)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads for both frameworks")
    parser.add_argument("--xla", action=argparse.BooleanOptionalAction, default=False,
                        help="compile our step with XLA")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _batch(args, config):
    import numpy as np

    rng = np.random.default_rng(args.seed)
    ids = rng.integers(config.mask_id + 1, config.vocab_size,
                       size=(args.batch_size, args.max_seq_length), dtype=np.int32)
    ids[:, 0] = config.cls_id
    ids[:, args.max_seq_length // 2] = config.sep_id
    ids[:, -1] = config.sep_id
    segments = np.zeros_like(ids)
    segments[:, args.max_seq_length // 2 + 1:] = 1
    return {"input_ids": ids, "input_mask": np.ones_like(ids), "segment_ids": segments}


def prepare_ours(args, config, batch):
    """Returns a function that times `args.steps` training steps (examples/s)."""
    import tensorflow as tf

    from pretrain.training import Trainer

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    trainer = Trainer(config, tf.distribute.get_strategy(), "none", xla=args.xla)
    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    trainer.train_loop(iterator, tf.constant(args.warmup_steps))["loss_sum"].numpy()

    def one_round() -> float:
        start = time.perf_counter()
        trainer.train_loop(iterator, tf.constant(args.steps))["loss_sum"].numpy()
        return args.steps * args.batch_size / (time.perf_counter() - start)

    return one_round


class TransformersElectra:
    """ELECTRA pretraining written around transformers' PyTorch models, as a user would (as in its ELECTRA
    examples), and the reference of `benchmarks.parity`: an ElectraForMaskedLM generator and an
    ElectraForPreTraining discriminator sharing the word, position and token-type embeddings and the
    embedding LayerNorm (the generator's output layer tied to the word embeddings); the original masking
    (mask_prob of the real tokens other than [CLS]/[SEP], at least 1, at most max_predictions_per_seq;
    mask_token_fraction of them [MASK], the rest kept, never a random token); Gumbel-max sampling of the
    replacements without gradient; label = replaced and different; loss = gen_weight x MLM (mean over the
    masked) + disc_weight x sigmoid CE (mean over real tokens); clipping to clip_norm; torch's AdamW (betas,
    eps, weight decay from the config, none on LayerNorm and biases); the original's schedule, linear decay
    to 0 at train_steps times a linear warm-up. `bias_correction=False` replaces AdamW by the original's Adam
    without bias correction (the update ours and google-research/electra make), for `benchmarks.parity`;
    `masked_only=True` applies the generator's head at the masked positions only (the same loss, a fraction
    of the cost with a 30k vocabulary: the original's way, where ElectraForMaskedLM scores every position)."""

    def __init__(self, config, seed: int, bias_correction: bool = True, masked_only: bool = False,
                 original_init: bool = False):
        import torch
        import transformers

        torch.manual_seed(seed)
        self.config = config
        self.masked_only = masked_only
        self.torch = torch
        self.generator = transformers.ElectraForMaskedLM(_hf_config(config.generator()))
        self.discriminator = transformers.ElectraForPreTraining(_hf_config(config.discriminator()))
        self.generator.electra.embeddings = self.discriminator.electra.embeddings  # shared, as in ELECTRA
        self.generator.generator_lm_head.weight = self.discriminator.electra.embeddings.word_embeddings.weight
        if original_init:
            self._original_init()
        params = {id(p): (n, p) for m in (self.generator, self.discriminator) for n, p in m.named_parameters()}
        decay = [p for n, p in params.values() if not ("LayerNorm" in n or n.endswith("bias"))]
        no_decay = [p for n, p in params.values() if "LayerNorm" in n or n.endswith("bias")]
        groups = [{"params": decay, "weight_decay": config.weight_decay_rate},
                  {"params": no_decay, "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW if bias_correction else _AdamNoBiasCorrection
        self.optimizer = optimizer(groups, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
                                   eps=config.adam_epsilon)

        def schedule(step: int) -> float:  # the original's: polynomial (linear) decay times the warm-up
            decayed = (1.0 - min(step, config.train_steps) / config.train_steps) ** config.lr_decay_power
            return decayed * (min(1.0, step / config.warmup_steps) if config.warmup_steps else 1.0)

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.parameters = [p for _, p in params.values()]

    def _original_init(self) -> None:
        """The original's initial values instead of transformers' normal(0, 0.02) everywhere: truncated normal
        (within 2 standard deviations) for embeddings and dense kernels, but Glorot uniform (tf.layers.dense's
        default) for the embedding projections and the replaced-token output layer, as ours has."""
        torch, std = self.torch, self.config.initializer_range
        glorot = {id(m) for m in (self.generator.electra.embeddings_project,
                                  getattr(self.discriminator.electra, "embeddings_project", None),
                                  self.discriminator.discriminator_predictions.dense_prediction) if m is not None}
        with torch.no_grad():
            for module in (*self.generator.modules(), *self.discriminator.modules()):
                if isinstance(module, torch.nn.Linear) and module is not self.generator.generator_lm_head:
                    if id(module) in glorot:
                        torch.nn.init.xavier_uniform_(module.weight)
                    else:
                        torch.nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
                elif isinstance(module, torch.nn.Embedding):
                    torch.nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)

    def train(self, mode: bool = True) -> None:
        self.generator.train(mode)
        self.discriminator.train(mode)

    def step(self, input_ids, attention_mask, token_type_ids) -> float:
        """One optimiser step on a batch (torch long tensors [B, L]); returns the loss."""
        torch, config = self.torch, self.config
        self.train()
        n = config.max_predictions_per_seq
        candidates = attention_mask.bool()
        for special in (config.cls_id, config.sep_id, config.pad_id, config.mask_id):
            candidates &= input_ids != special
        count = (attention_mask.sum(-1).float() * config.mask_prob).round().long().clamp(1, n)
        scores = torch.rand(input_ids.shape).masked_fill(~candidates, -1.0)
        top, positions = scores.topk(n, dim=-1)
        used = (torch.arange(n)[None, :] < count[:, None]) & (top >= 0)
        chosen = torch.zeros_like(candidates).scatter(1, positions, used)
        to_mask = chosen & (torch.rand(input_ids.shape) < config.mask_token_fraction)
        masked_ids = input_ids.masked_fill(to_mask, config.mask_id)
        labels = input_ids.masked_fill(~chosen, -100)
        if self.masked_only:
            # The same modules and loss, the generator's head applied at the chosen positions only.
            hidden = self.generator.electra(input_ids=masked_ids, attention_mask=attention_mask,
                                            token_type_ids=token_type_ids).last_hidden_state[chosen]
            gen_logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden))
            gen_loss = torch.nn.functional.cross_entropy(gen_logits, input_ids[chosen])
        else:
            gen = self.generator(input_ids=masked_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids, labels=labels)
            gen_logits, gen_loss = gen.logits[chosen], gen.loss
        with torch.no_grad():
            logits = gen_logits / config.temperature
            gumbel = -torch.log(-torch.log(torch.rand_like(logits) + 1e-9) + 1e-9)
            fake_ids = input_ids.clone()
            fake_ids[chosen] = (logits + gumbel).argmax(-1)
            is_replaced = (fake_ids != input_ids).long()
        disc = self.discriminator(input_ids=fake_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids, labels=is_replaced)
        loss = config.gen_weight * gen_loss + config.disc_weight * disc.loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.parameters, config.clip_norm)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())


def _hf_config(encoder):
    import transformers

    return transformers.ElectraConfig(
        vocab_size=encoder.vocab_size, embedding_size=encoder.embedding_size,
        hidden_size=encoder.hidden_size, num_hidden_layers=encoder.num_hidden_layers,
        num_attention_heads=encoder.num_attention_heads,
        intermediate_size=encoder.intermediate_size, hidden_act="gelu",
        max_position_embeddings=encoder.max_position_embeddings,
        type_vocab_size=encoder.type_vocab_size,
        hidden_dropout_prob=encoder.hidden_dropout_prob,
        attention_probs_dropout_prob=encoder.attention_probs_dropout_prob)


def _AdamNoBiasCorrection(groups, lr, betas, eps):  # noqa: N802 - a class factory, used like a class
    """BERT's and ELECTRA's AdamWeightDecay: Adam without bias correction, decoupled weight decay."""
    import torch

    class AdamNoBiasCorrection(torch.optim.Optimizer):
        def __init__(self):
            super().__init__(groups, dict(lr=lr, betas=betas, eps=eps, weight_decay=0.0))

        @torch.no_grad()
        def step(self):
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if not state:
                        state["m"], state["v"] = torch.zeros_like(p), torch.zeros_like(p)
                    m, v = state["m"], state["v"]
                    m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                    v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                    update = m / (v.sqrt() + group["eps"]) + group["weight_decay"] * p
                    p.add_(update, alpha=-group["lr"])

    return AdamNoBiasCorrection()


def prepare_transformers(args, config, batch):
    """Returns a function that times `args.steps` training steps (examples/s)."""
    import torch

    torch.set_num_threads(args.threads)
    reference = TransformersElectra(config, args.seed)
    input_ids = torch.tensor(batch["input_ids"], dtype=torch.long)
    attention_mask = torch.tensor(batch["input_mask"], dtype=torch.long)
    token_type_ids = torch.tensor(batch["segment_ids"], dtype=torch.long)

    def step() -> None:
        reference.step(input_ids, attention_mask, token_type_ids)

    for _ in range(args.warmup_steps):
        step()

    def one_round() -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        return args.steps * args.batch_size / (time.perf_counter() - start)

    return one_round


def main() -> int:
    args = _parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.path.insert(0, str(REPO))
    from pretrain import config as config_lib

    overrides = config_lib.parse_overrides(args.set)
    overrides.update(vocab_size=args.vocab_size, max_seq_length=args.max_seq_length,
                     batch_size=args.batch_size, train_steps=1000, warmup_steps=10)
    config = config_lib.for_size(args.model_size, overrides)
    config.validate()
    batch = _batch(args, config)
    disc, gen = config.discriminator(), config.generator()
    print(f"ELECTRA-{args.model_size}: discriminator {disc.num_hidden_layers}x{disc.hidden_size}, "
          f"generator {gen.num_hidden_layers}x{gen.hidden_size}, embeddings "
          f"{config.embedding_size}, vocab {config.vocab_size}; batch {args.batch_size} x "
          f"{args.max_seq_length}; {args.threads} threads; {args.steps} timed steps")
    ours_round = prepare_ours(args, config, batch)
    theirs_round = prepare_transformers(args, config, batch)
    ours, theirs = 0.0, 0.0
    for round_number in range(1, args.rounds + 1):
        ours = max(ours, ours_round())
        theirs = max(theirs, theirs_round())
        log.info("round %d: best so far ours %.2f, transformers %.2f examples/s",
                 round_number, ours, theirs)
    print(f"ours (TensorFlow {'XLA' if args.xla else 'graph'}): {ours:8.2f} examples/s")
    print(f"transformers (PyTorch eager):  {theirs:8.2f} examples/s")
    print(f"ratio ours / transformers: {ours / theirs:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
