"""`python run.py generate | infill | chat`: inference from --model_dir or --hf_dir.

    python run.py generate --model_dir=runs/quickstart --prompt='def fib(n):' --max_new_tokens=64
    python run.py generate --hf_dir=/models/starcoderbase-1b --prompts_file=prompts.jsonl
    python run.py infill --model_dir=runs/quickstart --prefix='def add(a, b):\\n    ' --suffix=''
    python run.py infill --model_dir=runs/quickstart --file=code.py   # '<CURSOR>' marks the gap
    python run.py chat --model_dir=runs/quickstart
"""

from __future__ import annotations

import json
import sys

from starjax import cli

CURSOR = "<CURSOR>"


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


def _parser(command: str):
  parser = cli.parser(command, __doc__)
  cli.add_model_flags(parser)
  if command == "chat":  # StarCoder's chat-like sampling by default
    cli.add_sampling_flags(parser, temperature=0.2, top_p=0.95, max_new_tokens=256)
  else:
    cli.add_sampling_flags(parser)
  if command == "generate":
    parser.add_argument("--prompt", help="text to continue ('\\n' escapes allowed)")
    parser.add_argument("--prompts_file", help="JSONL with a \"prompt\" per line (batch mode)")
    parser.add_argument("--output", help="batch mode: write JSONL results here (default stdout)")
  elif command == "infill":
    parser.add_argument("--prefix", help="code before the gap")
    parser.add_argument("--suffix", default="", help="code after the gap")
    parser.add_argument("--file", help=f"a source file with {CURSOR} where the gap is")
    parser.add_argument("--spm", action="store_true", help="suffix-prefix-middle order")
  return parser


def main(command: str, argv: list[str]) -> int:
  """`run.py generate|infill|chat`; a --gin_file=gin/mesh/... shards the model on that mesh."""
  args = cli.parse(argv, lambda: _parser(command), finalize=False)
  cli.require_one_model(args)
  sampling = cli.sampling_from(args)
  if command == "generate":
    if bool(args.prompt) == bool(args.prompts_file):
      if args.prompt == "":
        raise cli.UsageError("--prompt is empty: give some text to continue")
      raise cli.UsageError("give --prompt=TEXT or --prompts_file=FILE.jsonl (one of them)")
    prompts = [cli.unescape(args.prompt)] if args.prompt else read_prompts(args.prompts_file)
  elif command == "infill":
    prefix, suffix = _infill_parts(args)
  mesh_config = cli.mesh_from_gin()
  from starjax.infer.generator import Generator  # pylint: disable=import-outside-toplevel
  generator = Generator.load(model_dir=args.model_dir, hf_dir=args.hf_dir,
                             tokenizer_path=args.tokenizer, mesh_config=mesh_config)
  if command == "generate":
    _generate(generator, prompts, sampling, args)
  elif command == "infill":
    for i, middle in enumerate(generator.infill(prefix, suffix, sampling, spm=args.spm)):
      if sampling.num_samples > 1:
        print(f"--- sample {i + 1} ---")
      print(prefix + middle + suffix)
  else:
    return repl(generator, sampling)
  return 0


def _infill_parts(args) -> tuple[str, str]:
  if args.file:
    with open(args.file) as f:
      text = f.read()
    if text.count(CURSOR) != 1:
      raise cli.UsageError(f"{args.file}: put exactly one {CURSOR} where the middle goes "
                           f"(found {text.count(CURSOR)})")
    prefix, suffix = text.split(CURSOR)
    return prefix, suffix
  if args.prefix is not None:
    return cli.unescape(args.prefix), cli.unescape(args.suffix)
  raise cli.UsageError(f"give --prefix (and --suffix) or --file with a {CURSOR} marker")


def _generate(generator, prompts, sampling, args) -> None:
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
