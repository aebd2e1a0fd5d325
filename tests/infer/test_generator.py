"""Text-level inference: stop strings, FIM prompts, chat turns, and the CLI."""

import json
import os
import subprocess
import sys

import pytest

from starjax import ROOT
from starjax.infer import Generator, SamplingConfig
from starjax.infer.chat import STOP_STRINGS, Conversation
from starjax.infer.generator import cut_at_stop


@pytest.fixture(scope="module")
def generator(model_dir):
  return Generator.load(model_dir=model_dir)


def test_cut_at_stop_uses_the_earliest_stop_string():
  assert cut_at_stop("x = 1\ndef f():\n#", ("\n#", "\ndef ")) == ("x = 1", True)
  assert cut_at_stop("x = 1", ("\ndef ",)) == ("x = 1", False)


def test_completion_text_is_cut_at_the_first_stop_string(generator):
  free = generator.complete(["import os\n"], SamplingConfig(max_new_tokens=24))[0]
  assert free.finish_reason in ("length", "eos")
  text = free.text
  assert len(text) >= 5  # the seeded model always writes this much in 24 tokens
  stop = text[3:5]
  cut = generator.complete(["import os\n"], SamplingConfig(max_new_tokens=24, stop=(stop,)))[0]
  assert cut.finish_reason == "stop"
  assert cut.text == text[:text.find(stop)]


def test_num_samples_groups_completions_by_prompt(generator):
  completions = generator.complete(["def f(", "class A"],
                                   SamplingConfig(max_new_tokens=4, num_samples=3,
                                                  temperature=1.0, seed=5))
  assert [c.prompt_index for c in completions] == [0, 0, 0, 1, 1, 1]


def test_fim_prompts_follow_starcoder_formats(generator):
  assert generator.fim_prompt("P", "S") == "<fim_prefix>P<fim_suffix>S<fim_middle>"
  assert generator.fim_prompt("P", "S", spm=True) == "<fim_prefix><fim_suffix>S<fim_middle>P"
  ids = generator.encode(generator.fim_prompt("a = ", "\nprint(a)"))
  assert ids[0] == 1 and 3 in ids and ids.index(3) < ids.index(2)  # prefix, suffix, middle
  middles = generator.infill("a = ", "\nprint(a)", SamplingConfig(max_new_tokens=6))
  assert len(middles) == 1 and isinstance(middles[0], str)


def test_chat_keeps_the_conversation_and_stops_at_the_next_human_turn(generator):
  chat = Conversation(generator, SamplingConfig(max_new_tokens=8, temperature=0.0))
  first = chat.ask("What does len() return?")
  assert "\nHuman:" not in first
  prompt = chat.prompt("And for a dict?")
  assert "Human: What does len() return?" in prompt and prompt.endswith("Assistant:")
  assert chat.turns == [("What does len() return?", first)]
  assert "\nHuman:" in STOP_STRINGS


def run(*args, stdin=None):
  return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                        text=True, input=stdin, timeout=240)


def test_generate_cli_prints_the_completion_and_batch_mode_writes_jsonl(model_dir, tmp_path):
  result = run("generate", f"--model_dir={model_dir}", "--prompt=def add(a, b):\\n",
               "--max_new_tokens=8")
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith("def add(a, b):\n")
  prompts = tmp_path / "prompts.jsonl"
  prompts.write_text(json.dumps({"prompt": "import sys"}) + "\n" +
                     json.dumps({"prompt": "x = ["}) + "\n")
  out = tmp_path / "out.jsonl"
  result = run("generate", f"--model_dir={model_dir}", f"--prompts_file={prompts}",
               f"--output={out}", "--max_new_tokens=4", "--num_samples=2",
               "--temperature=0.8")
  assert result.returncode == 0, result.stderr[-2000:]
  lines = [json.loads(line) for line in out.read_text().splitlines()]
  assert [l["prompt_index"] for l in lines] == [0, 0, 1, 1]
  assert all("completion" in l for l in lines)


def test_infill_cli_reads_a_file_with_a_cursor(model_dir, tmp_path):
  source = tmp_path / "code.py"
  source.write_text("def f(x):\n    return <CURSOR>\n")
  result = run("infill", f"--model_dir={model_dir}", f"--file={source}", "--max_new_tokens=4")
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.startswith("def f(x):\n    return ")


def test_chat_cli_answers_each_turn(model_dir):
  result = run("chat", f"--model_dir={model_dir}", "--max_new_tokens=6",
               stdin="How do I sort a list?\nAnd reverse it?\n\n")
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.count("Assistant:") == 2


def test_cli_errors_are_clear(model_dir, tmp_path):
  empty = run("generate", f"--model_dir={model_dir}", "--prompt=")
  assert empty.returncode == 2 and "--prompt is empty" in empty.stderr
  too_long = run("generate", f"--model_dir={model_dir}", "--prompt=x", "--max_new_tokens=500")
  assert too_long.returncode == 2 and "exceeds the model's context of 128" in too_long.stderr
  bare = tmp_path / "bare"
  bare.mkdir()
  for name in os.listdir(model_dir):
    if name != "tokenizer.json":
      os.symlink(os.path.join(model_dir, name), bare / name)
  no_tokenizer = run("generate", f"--model_dir={bare}", "--prompt=x")
  assert no_tokenizer.returncode == 2 and "has no tokenizer.json" in no_tokenizer.stderr
