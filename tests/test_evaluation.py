"""The evaluation package (the BLURB tasks, layouts and readers) is plain Python: the corpus job (Beam)
will read benchmark files through it, and `pipelines/` must not pull in TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.fixtures import REPO

MODULES = ("evaluation", "evaluation.files", "evaluation.tasks", "evaluation.tags", "evaluation.readers",
           "evaluation.layouts")


def test_the_evaluation_package_imports_neither_tensorflow_nor_beam():
    script = (f"import importlib, json, sys\nfor name in {MODULES!r}:\n    importlib.import_module(name)\n"
              "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              "('tensorflow', 'apache_beam', 'keras', 'tf_keras', 'finetune', 'pretrain', 'pipelines'))))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []
