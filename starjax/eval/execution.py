"""Executing completions: one program in the sandbox (check_completion), and the engine that
scores a whole samples file (evaluate_samples).

check_completion builds prompt + completion + tests with a fresh sentinel (starjax/eval/verdicts.py
says why), compiles it once, runs it once in the sandbox and returns its Verdict.

evaluate_samples runs the programs of many completions on parallel workers: identical
(task_id, completion) pairs are one program, run once (each compiled once); verdicts go to the
run directory's results.jsonl as they arrive, so that an interrupted run resumes where it stopped
(starjax/eval/results.py); at the end, results.jsonl in input order and summary.json with pass@k.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from typing import Any, Iterable, Mapping, Sequence

import gin
import tqdm

from starjax.eval import results as results_lib
from starjax.eval import sandbox as sandbox_lib
from starjax.eval.benchmarks import Benchmark, get_benchmark
from starjax.eval.languages.base import Language, Program
from starjax.eval.pass_at_k import mean_pass_at_k
from starjax.eval.problem import Problem
from starjax.eval.samples import SampleLine, file_sha256, read_samples, write_samples
from starjax.eval.verdicts import Verdict, compile_failure, judge, new_sentinel, text

DEFAULT_KS = (1, 10, 100)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Timeouts:
  """Wall-clock seconds for running one program's tests and for compiling it."""

  run: float = 10.0
  compile: float = 60.0


class ToolchainMissingError(RuntimeError):
  """A language's compiler or interpreter is not installed; the message says which package."""


def install_command(package: str) -> str:
  """How to install a package named in Language.toolchain ('npm:<pkg>' or a Debian package)."""
  if package.startswith("npm:"):
    return f"npm install -g {package[4:]}"
  return f"apt-get install {package}"


def require_toolchain(language: Language) -> None:
  """Raises ToolchainMissingError naming what to install when a tool of `language` is missing."""
  missing = language.missing_tools()
  if missing:
    how = "; ".join(f"{tool}: {install_command(package)}" for tool, package in missing.items())
    raise ToolchainMissingError(
        f"{language.name} (multiple-{language.ext}) is skipped: {', '.join(missing)} not found "
        f"on PATH. Install {how} (.ci/apt-packages.txt and .ci/npm-packages.txt list them all).")


_default_sandbox: sandbox_lib.Sandbox | None = None
_default_sandbox_lock = threading.Lock()


def default_sandbox() -> sandbox_lib.Sandbox:
  """One shared Sandbox with the gin-configured Limits, made on first use (it probes bwrap once)."""
  global _default_sandbox
  with _default_sandbox_lock:
    if _default_sandbox is None:
      _default_sandbox = sandbox_lib.Sandbox()
    return _default_sandbox


def check_completion(language: Language, problem: Problem, completion: str, *,
                     timeout: float | None = None, compile_timeout: float | None = None,
                     sandbox: sandbox_lib.Sandbox | None = None) -> Verdict:
  """Builds prompt + completion + tests with a fresh sentinel, compiles and runs it in the sandbox.

  timeout / compile_timeout: wall-clock seconds (default: the gin-configured Timeouts).
  sandbox: default_sandbox() unless given. Raises ToolchainMissingError when the language's
  tools are not installed. Returns the Verdict.
  """
  require_toolchain(language)
  timeouts = Timeouts()
  sentinel = new_sentinel()
  program = language.program(problem, completion, sentinel)
  return run_program(
      program, sentinel, sandbox=sandbox or default_sandbox(),
      timeout=timeouts.run if timeout is None else timeout,
      compile_timeout=timeouts.compile if compile_timeout is None else compile_timeout,
      ro_paths=language.sandbox_paths(), env=language.sandbox_env())


def run_program(program: Program, sentinel: str, *, sandbox: sandbox_lib.Sandbox, timeout: float,
                compile_timeout: float, ro_paths=(), env=None) -> Verdict:
  """Writes the program's files into a fresh directory, compiles once, runs once, judges, and
  removes the directory. Returns the Verdict."""
  workdir = tempfile.mkdtemp(prefix="starjax-program-")
  try:
    write_files(workdir, program.files)
    spent = 0.0
    if program.compile:
      built = sandbox.run(program.compile, workdir, timeout=compile_timeout, ro_paths=ro_paths,
                          env=env)
      spent += built.wall_time
      if built.cancelled or built.timed_out or built.memory_exceeded or built.exit_code != 0:
        return Verdict(
            passed=False, result=compile_failure(built, sandbox.limits), exit_code=built.exit_code,
            stdout=text(built.stdout), stderr=text(built.stderr), wall_time=spent)
    ran = sandbox.run(program.run, workdir, timeout=timeout, ro_paths=ro_paths, env=env)
    passed, result = judge(ran, sentinel, sandbox.limits)
    return Verdict(passed=passed, result=result, exit_code=ran.exit_code, stdout=text(ran.stdout),
                   stderr=text(ran.stderr), wall_time=spent + ran.wall_time)
  finally:
    remove_tree(workdir)


def write_files(workdir: str, files: dict[str, str]) -> None:
  for name, content in files.items():
    path = os.path.normpath(os.path.join(workdir, name))
    if os.path.isabs(name) or not path.startswith(workdir + os.sep):
      raise ValueError(f"Program file {name!r} is outside the program's directory")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      f.write(content)
    os.chmod(path, 0o644)  # readable by the sandbox's uid whatever the caller's umask


def remove_tree(path: str) -> None:
  """Removes a program's directory even where the program took its own permissions away."""
  def make_writable_and_retry(function, target, _):
    try:
      os.chmod(os.path.dirname(target), stat.S_IRWXU)
      if os.path.isdir(target) and not os.path.islink(target):
        os.chmod(target, stat.S_IRWXU)
      function(target)
    except OSError:
      pass
  shutil.rmtree(path, onerror=make_writable_and_retry)




# --- the engine --------------------------------------------------------------------------------

def evaluate_samples(benchmark: Benchmark | str, samples: str | Iterable[Mapping[str, Any]],
                     out_dir: str, *, ks: Sequence[int] = DEFAULT_KS,
                     num_workers: int | None = None, timeouts: Timeouts | None = None,
                     sandbox: sandbox_lib.Sandbox | None = None,
                     progress: bool = True) -> dict[str, Any]:
  """Scores completions: the engine of `run.py evaluate`, `run.py eval` and training-time hooks.

  benchmark: a Benchmark (or its name, e.g. 'humaneval', 'multiple-js'; Benchmark.subset() for
    a few problems). samples: a JSONL path of {"task_id", "completion"} lines, or such dicts
    (written to out_dir/samples.jsonl first, so that the run can resume).
  out_dir: the run directory; gets results.jsonl (each input line + passed + result),
    summary.json and run.json. Run again with the same samples and settings, it resumes.
  ks: the pass@k to report (only those ≤ the fewest samples of a task).
  num_workers: programs run in parallel (default: the CPU cores).
  timeouts: default the gin-configured Timeouts(). sandbox: default a new Sandbox() with the
    gin-configured Limits.
  Returns the summary (as in summary.json). Raises ValueError for an unknown benchmark or
  unreadable samples, ToolchainMissingError, results.RunDirectoryConflict; on KeyboardInterrupt
  the verdicts so far stay in results.jsonl and the interrupt propagates.
  """
  start = time.monotonic()
  if isinstance(benchmark, str):
    benchmark = get_benchmark(benchmark)
  require_toolchain(benchmark.language)
  os.makedirs(out_dir, exist_ok=True)
  if not isinstance(samples, (str, os.PathLike)):
    path = os.path.join(out_dir, "samples.jsonl")
    write_samples(path, samples)
    samples = path
  samples_path = os.path.abspath(samples)
  lines = read_samples(samples_path, benchmark)
  timeouts = timeouts or Timeouts()
  sandbox = sandbox or sandbox_lib.Sandbox()
  results_lib.claim_run_directory(out_dir, {
      "benchmark": benchmark.name,
      "problems_sha256": hashlib.sha256("\n".join(benchmark.problems).encode()).hexdigest(),
      "samples_sha256": file_sha256(samples_path),
      "timeouts": dataclasses.asdict(timeouts),
      "limits": dataclasses.asdict(sandbox.limits),
      "isolation": sandbox.isolation,
  })

  valid = [line for line in lines if line.error is None]
  by_program: dict[tuple[str, str], list[SampleLine]] = collections.defaultdict(list)
  for line in valid:
    by_program[line.program_key].append(line)
  previous = results_lib.load_scored(out_dir)
  verdicts = {key: previous[key] for key in by_program if key in previous}
  pending = [key for key in by_program if key not in verdicts]
  if verdicts:
    logging.info("%s: resuming, %d of %d programs already scored in %s", benchmark.name,
                 len(verdicts), len(by_program), out_dir)

  log = results_lib.ResultsLog(out_dir)
  workers = num_workers or os.cpu_count() or 1
  pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="starjax-eval")
  try:
    for line in lines:
      if line.error is not None:
        log.append(result_record(line, {}))
    futures = {
        pool.submit(check_completion, benchmark.language, benchmark.problems[task_id], completion,
                    timeout=timeouts.run, compile_timeout=timeouts.compile, sandbox=sandbox):
        (task_id, completion) for task_id, completion in pending}
    for future in tqdm.tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                            desc=f"{benchmark.name}: running programs", disable=not progress,
                            unit="program"):
      key = futures[future]
      try:
        verdict = future.result()
      except Exception as e:
        e.add_note(f"while running {key[0]} of {benchmark.name}")
        raise
      if verdict.result == "cancelled":
        continue
      verdicts[key] = (verdict.passed, verdict.result)
      for line in by_program[key]:
        log.append(result_record(line, verdicts))
  except BaseException:
    # Interrupted or broken: stop every running program; what was scored is already on disk.
    sandbox.cancel.set()
    pool.shutdown(wait=True, cancel_futures=True)
    sandbox.cancel.clear()
    log.close()
    raise
  pool.shutdown()
  log.close()

  records = [result_record(line, verdicts) for line in lines]
  results_path = results_lib.rewrite_in_order(out_dir, records)
  counts: dict[str, list[int]] = {}
  for line in valid:
    n_and_c = counts.setdefault(line.record["task_id"], [0, 0])
    n_and_c[0] += 1
    n_and_c[1] += verdicts[line.program_key][0]
  pass_at_k, omitted = mean_pass_at_k({t: (n, c) for t, (n, c) in counts.items()}, ks)
  summary = results_lib.build_summary(
      benchmark=benchmark, counts=counts, pass_at_k=pass_at_k, omitted_ks=omitted,
      records=records, invalid=[(line.line, line.error) for line in lines if line.error],
      extra={
          "num_programs": len(by_program),
          "num_programs_run": len(pending),
          "samples_file": samples_path,
          "results_file": os.path.abspath(results_path),
          "num_workers": workers,
          "timeouts": dataclasses.asdict(timeouts),
          "sandbox": sandbox.describe(),
          "wall_time_seconds": round(time.monotonic() - start, 3),
      })
  results_lib.write_json_atomic(os.path.join(out_dir, results_lib.SUMMARY_FILE), summary)
  return summary


def result_record(line: SampleLine, verdicts: Mapping[tuple[str, str], tuple[bool, str]]
                  ) -> dict[str, Any]:
  """The results.jsonl object of one input line: its own keys + passed + result."""
  if line.error is not None:
    base = dict(line.record) if line.record is not None else {"line": line.line}
    base.pop("passed", None)
    base.pop("result", None)
    return {**base, "passed": False,
            "result": f"{results_lib.INVALID}: line {line.line}: {line.error}"}
  passed, result = verdicts[line.program_key]
  return {**line.record, "passed": passed, "result": result}
