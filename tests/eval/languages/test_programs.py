"""Translated problems run in the real sandbox: right answers pass, wrong ones fail.

Hand-written solutions per language (tests/eval/languages/solutions/) must pass; their
plausibly wrong twins must fail on the tests (not on compilation); a completion that exits
early with status 0 must fail; and the oracle of a sample of problems (oracle.py) must pass in
every language that translates them.
"""

from __future__ import annotations

import pytest

from tests.eval.languages import jobs as jobs_lib
from tests.eval.languages.conftest import describe


def _params(kind: str):
  return [pytest.param(job, id=f"{job.ext}-{job.task_id}") for job in jobs_lib.jobs_of_kind(kind)]


@pytest.mark.parametrize("job", _params("correct"))
def test_correct_solution_passes(job, verdict_of):
  verdict = verdict_of(job)
  assert verdict.passed, describe(job, verdict)


@pytest.mark.parametrize("job", _params("wrong"))
def test_wrong_solution_fails_its_tests(job, verdict_of):
  verdict = verdict_of(job)
  assert not verdict.passed, describe(job, verdict)
  assert verdict.result.startswith("failed"), describe(job, verdict)


@pytest.mark.parametrize("job", _params("early exit"))
def test_exiting_early_with_status_0_fails(job, verdict_of):
  verdict = verdict_of(job)
  assert not verdict.passed, describe(job, verdict)
  if job.ext != "sh":  # Bash: the exit ends only the $(...) subshell, and the check fails
    assert "exited before the tests finished" in verdict.result, describe(job, verdict)


@pytest.mark.parametrize("job", _params("type error"))
def test_type_error_fails_to_compile(job, verdict_of):
  verdict = verdict_of(job)
  assert verdict.result.startswith("compile error"), describe(job, verdict)


@pytest.mark.parametrize("job", _params("oracle"))
def test_oracle_of_sample_problem_passes(job, verdict_of):
  verdict = verdict_of(job)
  assert verdict.passed, describe(job, verdict)
