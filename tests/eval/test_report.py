"""Reports: the markdown table and the pass@k chart."""

from __future__ import annotations

from starjax.eval import report


def summary(benchmark, language, **values):
  base = {"benchmark": benchmark, "language": language, "num_problems": 164,
          "num_tasks_scored": 164, "samples_per_task": {"min": 20, "max": 20},
          "results": {"passed": 10, "failed": 5, "timed out": 2, "compile error": 3},
          "num_invalid_lines": 1}
  base.update(values)
  return base


def test_table_has_a_row_per_benchmark_with_percentages():
  table = report.markdown_table([
      summary("humaneval", "py", **{"pass@1": 0.336, "pass@10": 0.5}),
      summary("multiple-js", "js", **{"pass@1": 0.3079}, num_problems=160,
              num_tasks_scored=160, num_dropped_problems=4,
              samples_per_task={"min": 1, "max": 20})])
  lines = table.splitlines()
  assert lines[0] == ("| benchmark | language | problems | samples/task | pass@1 | pass@10 | "
                      "timed out | compile errors | invalid lines |")
  assert lines[2] == "| humaneval | Python | 164/164 | 20 | 33.60 | 50.00 | 2 | 3 | 1 |"
  assert lines[3] == ("| multiple-js | JavaScript | 160/160 (4 untranslatable) | 1–20 | 30.79 "
                      "| – | 2 | 3 | 1 |")


def test_chart_and_report_are_written(tmp_path):
  summaries = [summary("humaneval", "py", **{"pass@1": 0.4}),
               summary("multiple-lua", "lua", **{"pass@1": 0.2})]
  report_path, chart_path = report.write_report(str(tmp_path), summaries, title="Quickstart")
  with open(chart_path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  text = open(report_path).read()
  assert text.startswith("# Quickstart\n") and "![pass@k](pass_at_k.png)" in text
  assert "| multiple-lua |" in text
