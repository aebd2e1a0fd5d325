"""Inference: KV-cache decoding, sampling, fill-in-the-middle, chat.

    from starjax.infer import Generator, SamplingConfig
    gen = Generator.load(model_dir="runs/quickstart")
    gen.complete(["def fib(n):"], SamplingConfig(max_new_tokens=64))
"""

from starjax.infer.decoding import TokenGenerator
from starjax.infer.generator import Completion, Generator
from starjax.infer.sampling import SamplingConfig

__all__ = ["Completion", "Generator", "SamplingConfig", "TokenGenerator"]
