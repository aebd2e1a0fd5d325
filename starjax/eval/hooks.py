"""Training-time evaluation: every N steps, generate for a few benchmark problems with the
current parameters, score them in the sandbox, and log pass@1 with the training metrics.

    # gin
    train.hooks = [@PassAtOneHook()]
    PassAtOneHook.every = 500
    PassAtOneHook.benchmark = 'humaneval'
    PassAtOneHook.num_problems = 20
"""

from __future__ import annotations

import gin

from starjax.data.tokenizer import load_tokenizer
from starjax.eval.benchmarks import get_benchmark
from starjax.eval.generation import GenerationSettings, first_fitting, generate_and_score
from starjax.infer.decoding import TokenGenerator
from starjax.infer.generator import Generator
from starjax.model_dir import eval_dir
from starjax.tokens import ENDOFTEXT, EOS_ID


@gin.configurable
class PassAtOneHook:
  """Greedy pass@1 on the first `num_problems` problems of a benchmark whose prompts fit the
  model's context, every `every` steps.

  A train-time hook (the trainer's hook interface): called with the loop's HookContext, of
  which it reads step, params, model_config, model_dir and tokenizer_path. Results go to
  MODEL_DIR/eval/<benchmark>/step_<N>/ (samples, results.jsonl, summary.json); it returns
  {'<benchmark>_pass@1': value} for metrics.jsonl and TensorBoard.
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

  def _generator_for(self, context) -> Generator:
    if self._generator is None:
      if not context.tokenizer_path:
        raise ValueError("PassAtOneHook needs the run's tokenizer (MODEL_DIR/tokenizer.json), "
                         "which this run's data does not provide")
      tokenizer = load_tokenizer(context.tokenizer_path)
      eos = tokenizer.token_to_id(ENDOFTEXT)
      tokens = TokenGenerator(context.model_config, context.params,
                              eos_id=EOS_ID if eos is None else eos)
      self._generator = Generator(tokens, tokenizer)
    # Same shapes every time: the compiled decode is reused with the new parameters.
    return self._generator.with_params(context.params)

  def __call__(self, context) -> dict:
    generator = self._generator_for(context)
    benchmark = first_fitting(generator, get_benchmark(self.benchmark_name), self.num_problems,
                              self.settings)
    out_dir = eval_dir(context.model_dir, self.benchmark_name, f"step_{context.step}")
    summary = generate_and_score(generator, benchmark, out_dir, self.settings, ks=(1,),
                                 num_workers=self.num_workers, progress=False)
    return {f"{self.benchmark_name}_pass@1": summary["pass@1"]}
