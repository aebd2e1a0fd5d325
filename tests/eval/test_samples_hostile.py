"""Hostile and malformed samples files: every bad line is reported with its reason, every valid
line is still scored, nothing crashes or hangs; a fuzz test drives the reader with random bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from starjax.eval.benchmarks import get_benchmark
from starjax.eval.execution import evaluate_samples
from starjax.eval.humaneval import read_humaneval
from starjax.eval.samples import MAX_COMPLETION_CHARS, read_samples

CANONICAL = read_humaneval()["HumanEval/0"]["canonical_solution"]


@pytest.fixture(scope="module")
def humaneval():
  return get_benchmark("humaneval")


def hostile_lines() -> list[tuple[bytes, str | None]]:
  """(raw line, the start of its error or None for a valid line)."""
  valid = json.dumps({"task_id": "HumanEval/0", "completion": CANONICAL}).encode()
  return [
      (valid, None),
      (b'{"task_id": "HumanEval/0", "completion": ', "not JSON"),
      (b'{"completion": "    return 1\\n"}', "no 'task_id' key"),
      (b'{"task_id": "HumanEval/0"}', "no 'completion' key"),
      (b'{"task_id": "HumanEval/99999", "completion": ""}', "task_id 'HumanEval/99999'"),
      (b'{"task_id": 0, "completion": ""}', "'task_id' is a int"),
      (b'["HumanEval/0", "x"]', "a JSON list"),
      (b'{"task_id": "HumanEval/0", "completion": "\x00"}', "not JSON"),  # a raw NUL
      (b'{"task_id": "HumanEval/0", "completion": "\xff\xfe"}', "not UTF-8 (byte 0xff"),
      # An escaped NUL is a valid string: the program is run, and fails.
      (json.dumps({"task_id": "HumanEval/0", "completion": "    return \x00\n"}).encode(), None),
      (json.dumps({"task_id": "HumanEval/0", "completion": "#" * (100 << 20)}).encode(),
       "completion of 104,857,600 characters"),
      (valid, None),
  ]


def write(path, lines) -> str:
  path.write_bytes(b"".join(raw + b"\n" for raw in lines))
  return str(path)


def test_each_bad_line_gets_its_reason_and_valid_lines_are_kept(tmp_path, humaneval):
  cases = hostile_lines()
  parsed = read_samples(write(tmp_path / "s.jsonl", [raw for raw, _ in cases]), humaneval)
  assert [line.line for line in parsed] == list(range(1, len(cases) + 1))
  for line, (_, expected) in zip(parsed, cases):
    if expected is None:
      assert line.error is None, line.error
    else:
      assert line.error is not None and line.error.startswith(expected), (expected, line.error)
  assert MAX_COMPLETION_CHARS < 100 << 20


def test_evaluate_scores_every_valid_line_of_a_hostile_file(tmp_path, humaneval, sandbox):
  cases = hostile_lines()
  summary = evaluate_samples(humaneval, write(tmp_path / "s.jsonl", [raw for raw, _ in cases]),
                             str(tmp_path / "run"), ks=(1,), sandbox=sandbox, progress=False)
  results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").open()]
  assert len(results) == len(cases)
  for result, (raw, expected) in zip(results, cases):
    if expected is None:
      canonical = json.loads(raw)["completion"] == CANONICAL
      assert result["passed"] == canonical, result
      assert result["result"] == "passed" if canonical else result["result"].startswith(
          "failed: "), result
    else:
      assert result["result"].startswith("invalid") and expected in result["result"], result
  assert summary["num_invalid_lines"] == sum(e is not None for _, e in cases)
  # The 100 MB completion is not copied into results.jsonl.
  assert (tmp_path / "run" / "results.jsonl").stat().st_size < 1 << 20


def test_a_directory_or_unreadable_path_is_a_clear_error(tmp_path, humaneval):
  with pytest.raises(ValueError, match=f"--samples={tmp_path}: cannot read it"):
    read_samples(str(tmp_path), humaneval)
  with pytest.raises(FileNotFoundError, match="no such file"):
    read_samples(str(tmp_path / "missing.jsonl"), humaneval)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.one_of(
    st.binary(max_size=200),
    st.builds(lambda obj: json.dumps(obj).encode(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) |
        st.dictionaries(st.sampled_from(["task_id", "completion", "completion_id", "passed",
                                         "x"]), children, max_size=4), max_leaves=8)),
    st.builds(lambda t, c: json.dumps({"task_id": t, "completion": c}).encode(),
              st.sampled_from(["HumanEval/0", "HumanEval/1", "HumanEval/164", ""]),
              st.text(max_size=50))), max_size=8))
def test_fuzz_the_samples_reader_never_crashes(tmp_path, humaneval, data):
  path = tmp_path / "fuzz.jsonl"
  path.write_bytes(b"\n".join(data))
  parsed = read_samples(str(path), humaneval)
  for line in parsed:
    if line.error is None:
      assert line.record["task_id"] in humaneval.problems
      assert isinstance(line.record["completion"], str)
    else:
      assert isinstance(line.error, str) and line.error
  numbers = [line.line for line in parsed]
  assert numbers == sorted(set(numbers))
