import os
import sys

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from finetune.cli import main  # noqa: E402

sys.exit(main())
