"""Evaluation: HumanEval and MultiPL-E benchmarks, the sandbox, execution and pass@k.

    from starjax import eval as evaluation
    benchmark = evaluation.get_benchmark("humaneval")          # or "multiple-js", ...
    summary = evaluation.evaluate_samples(benchmark, "samples.jsonl", "/tmp/run")
    summary["pass@1"]

    verdict = evaluation.check_completion(benchmark.language, benchmark.problems["HumanEval/0"],
                                          completion)
"""

from starjax.eval.benchmarks import Benchmark, benchmark_names, get_benchmark
from starjax.eval.execution import (Timeouts, ToolchainMissingError, check_completion,
                                    evaluate_samples)
from starjax.eval.pass_at_k import mean_pass_at_k, pass_at_k
from starjax.eval.sandbox import Limits, Sandbox
from starjax.eval.verdicts import Verdict

__all__ = ["Benchmark", "benchmark_names", "get_benchmark", "Timeouts", "ToolchainMissingError",
           "check_completion", "evaluate_samples", "mean_pass_at_k", "pass_at_k", "Limits",
           "Sandbox", "Verdict"]
