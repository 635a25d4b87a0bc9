"""Fine-tuning a pretrained ELECTRA discriminator on the BLURB tasks, scored with BLURB's
official metrics; see `python -m finetune --help`."""
