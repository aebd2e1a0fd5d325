"""Every translated problem, in every language, passes with its oracle (oracle.py).

The check that all 1,900-odd translations compile, type-check and compare their expected values
as equal to themselves. It takes ~15 CPU-minutes, so it runs only when asked:
    STARJAX_MULTIPLE_ALL=1 python -m pytest tests/eval/languages/test_all_problems.py
(the default suite runs the oracles of a sample, tests/eval/languages/jobs.py's ORACLE_SAMPLE).
"""

from __future__ import annotations

import os

import pytest

from starjax.eval.benchmarks import get_benchmark
from tests.eval.languages import jobs as jobs_lib
from tests.eval.languages.conftest import describe, run_jobs, skip_without_toolchain

pytestmark = pytest.mark.skipif(
    os.environ.get("STARJAX_MULTIPLE_ALL") != "1",
    reason="every problem in every language takes ~15 CPU-minutes: set STARJAX_MULTIPLE_ALL=1")


@pytest.mark.parametrize("ext", jobs_lib.MULTIPLE_EXTS)
def test_every_translated_problem_passes_with_its_oracle(ext):
  skip_without_toolchain(ext)
  task_ids = get_benchmark(f"multiple-{ext}").problems
  jobs = [jobs_lib.oracle_job(ext, task_id) for task_id in task_ids]
  jobs = [job for job in jobs if job is not None]  # HumanEval/92 has no oracle (oracle.py)
  verdicts = run_jobs(jobs)
  failures = [describe(job, verdicts[job.key]) for job in jobs if not verdicts[job.key].passed]
  assert not failures, f"{len(failures)} of {len(jobs)} failed:\n" + "\n".join(failures[:5])
