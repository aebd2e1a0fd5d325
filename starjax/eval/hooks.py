"""Training-time evaluation: every N steps, generate for a few benchmark problems with the
current parameters, score them in the sandbox, and log pass@1 with the training metrics.

    # gin
    train.hooks = [@PassAtOneHook()]
    PassAtOneHook.every = 500
    PassAtOneHook.benchmark = 'humaneval'
    PassAtOneHook.num_problems = 20
"""

from __future__ import annotations

import os

import gin

from starjax.data.tokenizer import load_tokenizer
from starjax.eval.benchmarks import get_benchmark
from starjax.eval.execution import evaluate_samples
from starjax.eval.generation import GenerationSettings, first_fitting, generate_samples
from starjax.infer.decoding import TokenGenerator, unstack_blocks
from starjax.infer.generator import Generator


@gin.configurable
class PassAtOneHook:
  """Greedy pass@1 on the first `num_problems` problems of a benchmark whose prompts fit the
  model's context, every `every` steps.

  Results go to MODEL_DIR/eval/<benchmark>/step_<N>/ (samples, results.jsonl, summary.json);
  the hook returns {'<benchmark>_pass@1': value} for metrics.jsonl and TensorBoard.
  """

  def __init__(self, every: int = 500, benchmark: str = "humaneval", num_problems: int = 20,
               max_length: int = 512, batch_size: int = 20, num_workers: int | None = None):
    if every < 1:
      raise ValueError(f"PassAtOneHook.every={every} must be >= 1")
    self.every = every
    self.benchmark_name = benchmark
    self.num_problems = num_problems
    self.settings = GenerationSettings(num_samples=1, temperature=0.0, max_length=max_length,
                                       batch_size=batch_size)
    self.num_workers = num_workers
    self._generator: Generator | None = None

  def _generator_for(self, params, trainer) -> Generator:
    if self._generator is None:
      if not getattr(trainer, "tokenizer_path", None):
        raise ValueError("PassAtOneHook needs the run's tokenizer (MODEL_DIR/tokenizer.json), "
                         "which this run's data does not provide")
      tokenizer = load_tokenizer(trainer.tokenizer_path)
      eos = tokenizer.token_to_id("<|endoftext|>")
      tokens = TokenGenerator(trainer.model_config, params, eos_id=0 if eos is None else eos)
      self._generator = Generator(tokens, tokenizer)
    # Same shapes every time: the compiled decode is reused with the new parameters.
    self._generator.tokens.params = unstack_blocks(params)
    return self._generator

  def __call__(self, step: int, params, trainer) -> dict:
    generator = self._generator_for(params, trainer)
    benchmark = first_fitting(generator, get_benchmark(self.benchmark_name), self.num_problems,
                              self.settings)
    out_dir = os.path.join(trainer.model_dir, "eval", self.benchmark_name, f"step_{step}")
    samples = generate_samples(generator, benchmark, os.path.join(out_dir, "samples.jsonl"),
                               self.settings, progress=False)
    summary = evaluate_samples(benchmark, samples, out_dir, ks=(1,),
                               num_workers=self.num_workers, progress=False)
    return {f"{self.benchmark_name}_pass@1": summary["pass@1"]}
