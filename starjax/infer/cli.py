"""`python run.py generate | infill | chat`: inference from --model_dir or --hf_dir.

    python run.py generate --model_dir=runs/quickstart --prompt='def fib(n):' --max_new_tokens=64
    python run.py generate --hf_dir=/models/starcoderbase-1b --prompts_file=prompts.jsonl
    python run.py infill --model_dir=runs/quickstart --prefix='def add(a, b):\\n    ' --suffix=''
    python run.py infill --model_dir=runs/quickstart --file=code.py   # '<CURSOR>' marks the gap
    python run.py chat --model_dir=runs/quickstart
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys

from starjax import gin_config

CURSOR = "<CURSOR>"


def _unescape(text: str | None) -> str | None:
  """Shell-friendly escapes in --prompt/--prefix/--suffix/--stop: '\\n' means a newline."""
  return None if text is None else codecs.decode(text, "unicode_escape")


def add_model_flags(parser: argparse.ArgumentParser) -> None:
  source = parser.add_argument_group("model")
  source.add_argument("--model_dir", help="a starjax MODEL_DIR (newest checkpoint is used)")
  source.add_argument("--hf_dir", help="a Hugging Face model directory (gpt_bigcode/starcoder2)")
  source.add_argument("--tokenizer", help="tokenizer.json (default: the model directory's)")
  sampling = parser.add_argument_group("sampling")
  sampling.add_argument("--max_new_tokens", type=int, default=128)
  sampling.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
  sampling.add_argument("--top_p", type=float, default=1.0)
  sampling.add_argument("--top_k", type=int, default=0)
  sampling.add_argument("--seed", type=int, default=0)
  sampling.add_argument("--num_samples", type=int, default=1)
  sampling.add_argument("--stop", action="append", default=[],
                        help="stop string (repeatable; '\\n' escapes allowed)")


def sampling_from(args):
  from starjax.infer.sampling import SamplingConfig  # pylint: disable=import-outside-toplevel
  return SamplingConfig(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                        max_new_tokens=args.max_new_tokens,
                        stop=tuple(_unescape(s) for s in args.stop), seed=args.seed,
                        num_samples=args.num_samples)


def read_prompts(path: str) -> list[str]:
  """A prompts file: JSONL lines with a "prompt" field, or (any other file) the whole text."""
  with open(path) as f:
    lines = f.read().splitlines()
  prompts = []
  if path.endswith(".jsonl"):
    for number, line in enumerate(lines, 1):
      if not line.strip():
        continue
      try:
        prompts.append(json.loads(line)["prompt"])
      except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}:{number}: expected a JSON object with a \"prompt\" field "
                         f"({e})") from e
  else:
    prompts.append("\n".join(lines))
  return prompts


def main(command: str, argv: list[str]) -> int:
  files, bindings, rest = gin_config.split_gin_flags(argv)
  parser = argparse.ArgumentParser(prog=f"run.py {command}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  add_model_flags(parser)
  if command == "generate":
    parser.add_argument("--prompt", help="text to continue ('\\n' escapes allowed)")
    parser.add_argument("--prompts_file", help="JSONL with a \"prompt\" per line (batch mode)")
    parser.add_argument("--output", help="batch mode: write JSONL results here (default stdout)")
  elif command == "infill":
    parser.add_argument("--prefix", help="code before the gap")
    parser.add_argument("--suffix", default="", help="code after the gap")
    parser.add_argument("--file", help=f"a source file with {CURSOR} where the gap is")
    parser.add_argument("--spm", action="store_true", help="suffix-prefix-middle order")
  else:  # chat: StarCoder's chat-like sampling by default
    parser.set_defaults(temperature=0.2, top_p=0.95, max_new_tokens=256)
  args = parser.parse_args(rest)
  if files or bindings:
    gin_config.parse(files, bindings, finalize=False)

  from starjax.infer.generator import Generator  # pylint: disable=import-outside-toplevel
  try:
    sampling = sampling_from(args)
    if command == "generate":
      if bool(args.prompt) == bool(args.prompts_file):
        if args.prompt == "":
          raise ValueError("--prompt is empty: give some text to continue")
        raise ValueError("give --prompt=TEXT or --prompts_file=FILE.jsonl (one of them)")
      prompts = [_unescape(args.prompt)] if args.prompt else read_prompts(args.prompts_file)
    elif command == "infill":
      if args.file:
        with open(args.file) as f:
          text = f.read()
        if text.count(CURSOR) != 1:
          raise ValueError(f"{args.file}: put exactly one {CURSOR} where the middle goes "
                           f"(found {text.count(CURSOR)})")
        prefix, suffix = text.split(CURSOR)
      elif args.prefix is not None:
        prefix, suffix = _unescape(args.prefix), _unescape(args.suffix)
      else:
        raise ValueError(f"give --prefix (and --suffix) or --file with a {CURSOR} marker")
    generator = Generator.load(model_dir=args.model_dir, hf_dir=args.hf_dir,
                               tokenizer_path=args.tokenizer)
    if command == "generate":
      completions = generator.complete(prompts, sampling)
      if args.prompts_file:
        out = open(args.output, "w") if args.output else sys.stdout
        for c in completions:
          out.write(json.dumps({"prompt_index": c.prompt_index, "prompt": prompts[c.prompt_index],
                                "completion": c.text, "finish_reason": c.finish_reason}) + "\n")
        if args.output:
          out.close()
          print(f"wrote {len(completions)} completions to {args.output}", file=sys.stderr)
      else:
        for i, c in enumerate(completions):
          if len(completions) > 1:
            print(f"--- sample {i + 1} ({c.finish_reason}) ---")
          print(prompts[0] + c.text)
    elif command == "infill":
      for i, middle in enumerate(generator.infill(prefix, suffix, sampling, spm=args.spm)):
        if sampling.num_samples > 1:
          print(f"--- sample {i + 1} ---")
        print(prefix + middle + suffix)
    else:
      return repl(generator, sampling)
  except (ValueError, FileNotFoundError) as e:
    print(f"run.py {command}: {e}", file=sys.stderr)
    return 2
  return 0


def repl(generator, sampling) -> int:
  """Interactive multi-turn chat on stdin/stdout; an empty line or EOF ends it."""
  from starjax.infer.chat import Conversation  # pylint: disable=import-outside-toplevel
  conversation = Conversation(generator, sampling)
  print("starjax technical assistant. Type a question; an empty line or Ctrl-D ends.",
        file=sys.stderr)
  while True:
    try:
      message = input("Human: ")
    except EOFError:
      break
    if not message.strip():
      break
    print(f"Assistant: {conversation.ask(message)}\n", flush=True)
  return 0
