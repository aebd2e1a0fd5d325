"""starjax: train, fine-tune, serve and evaluate StarCoder-family code LLMs in JAX/Flax NNX.

Data flows one way: data → model → train → infer → eval. Lower layers never import higher ones.
"""

import os

# TensorFlow (pulled in by seqio/tfds) is only used for the input pipeline on the host: keep it
# off any accelerator and quiet, before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__version__ = "0.1.0"
