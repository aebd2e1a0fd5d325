"""Fixtures of the MultiPL-E language tests: one parallel run of every planned program."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from starjax.eval import execution
from starjax.eval.languages import get_language
from tests import toolchains
from tests.eval.languages import jobs as jobs_lib


def toolchain_problem(ext: str) -> str | None:
  """Why ext's programs cannot run here (naming the package to install), or None."""
  try:
    execution.require_toolchain(get_language(ext))
  except execution.ToolchainMissingError as e:
    return str(e)
  return None


def skip_without_toolchain(ext: str) -> None:
  """Skips (fails under .ci/run: tests/toolchains.py) a test whose language lacks its tools."""
  problem = toolchain_problem(ext)
  if problem is not None:
    toolchains.missing(problem)


def run_jobs(jobs, workers: int | None = None) -> dict:
  """job.key → Verdict, for the jobs whose toolchain is installed, all run in parallel."""
  runnable = [job for job in jobs if toolchain_problem(job.ext) is None]
  with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
    futures = {job.key: pool.submit(execution.check_completion, get_language(job.ext),
                                    jobs_lib.translate(job.ext, job.task_id), job.completion)
               for job in runnable}
    return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="session")
def verdicts() -> dict:
  """The Verdict of every job in jobs.planned_jobs(), keyed by job.key."""
  return run_jobs(jobs_lib.planned_jobs())


@pytest.fixture
def verdict_of(verdicts):
  """verdict_of(job): its Verdict, or a skip naming the package its language needs."""
  def lookup(job):
    skip_without_toolchain(job.ext)
    return verdicts[job.key]
  return lookup


def describe(job, verdict) -> str:
  """A failure message: what ran and what came out."""
  return (f"{job.ext} {job.task_id} ({job.kind}): {verdict.result}\n"
          f"--- stdout ---\n{verdict.stdout[-1500:]}\n--- stderr ---\n{verdict.stderr[-1500:]}")
