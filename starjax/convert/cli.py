"""`python run.py convert`: Hugging Face checkpoints ⇄ starjax MODEL_DIRs.

    python run.py convert --from_hf=/models/starcoderbase-1b --out=/models/sc1b
    python run.py convert --to_hf=/tmp/sc1b-hf --model_dir=/models/sc1b [--step=N]

--from_hf writes MODEL_DIR/checkpoints/0 (orbax: the parameters and meta with the model
config), MODEL_DIR/tokenizer.json (copied when the HF directory has one) and
MODEL_DIR/config.gin, the DecoderConfig bindings of the architecture, so that:

    python run.py generate --model_dir=/models/sc1b --prompt='def fib(n):'
    python run.py train --gin_file=experiments/finetune_python.gin \\
        --gin_file=/models/sc1b/config.gin --gin.INIT_MODEL_DIR=/models/sc1b \\
        --gin.MODEL_DIR=/runs/sc1b-python

A mesh gin file (--gin_file=gin/mesh/...) places the parameters sharded while converting.
Nothing is written to --out / --to_hf unless the whole conversion succeeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from starjax import gin_config
from starjax import model_dir as model_dir_lib
from starjax.model_dir import TOKENIZER as TOKENIZER_FILE
from starjax.tokens import ENDOFTEXT, EOS_ID


def from_hf(hf_dir: str, out: str, *, param_dtype: str | None = None,
            dtype: str | None = None, mesh_config=None) -> str:
  """Converts a Hugging Face directory into a starjax MODEL_DIR at `out` (new or empty)."""
  # pylint: disable=import-outside-toplevel
  import starjax
  from flax import nnx
  from starjax.convert import hf, hf_config
  from starjax.convert.output_dir import atomic_directory
  from starjax.model_dir import writer

  source = os.path.abspath(hf_dir)
  with atomic_directory(out) as tmp:  # refuses a non-empty --out before any work
    model = hf.load_pretrained(hf_dir, param_dtype=param_dtype, dtype=dtype,
                               mesh_config=mesh_config)
    config = model.config
    params = nnx.to_pure_dict(nnx.state(model))
    del model  # params hold the only reference to the arrays from here on
    meta = model_dir_lib.json_safe({
        "model_config": config.to_json(), "step": 0, "converted_from": source,
        "hf_config": hf_config.read_config(hf_dir), "starjax_version": starjax.__version__,
    })
    writer.save_checkpoint(tmp, params, meta)
    tokenizer = os.path.join(hf_dir, TOKENIZER_FILE)
    if os.path.isfile(tokenizer):
      shutil.copyfile(tokenizer, os.path.join(tmp, TOKENIZER_FILE))
    with open(model_dir_lib.config_gin_path(tmp), "w") as f:
      f.write(writer.config_gin(config, source, os.path.abspath(out)))
  return os.path.abspath(out)


def to_hf(model_dir: str, out: str, *, step: int | None = None,
          max_shard_size: str | int = "5GB") -> list[str]:
  """Exports a starjax MODEL_DIR's newest (or given) checkpoint as a Hugging Face directory."""
  # pylint: disable=import-outside-toplevel
  from flax import nnx
  from starjax.convert import hf
  from starjax.convert.errors import ConversionError
  from starjax.convert.output_dir import atomic_directory
  from starjax.model import abstract_decoder

  try:
    config, params = model_dir_lib.restore_params(model_dir, step)
  except model_dir_lib.ModelDirError as e:
    raise ConversionError(str(e)) from e
  graphdef, state = nnx.split(abstract_decoder(config))
  nnx.replace_by_pure_dict(state, params)
  model = nnx.merge(graphdef, state)
  tokenizer = model_dir_lib.tokenizer_path(model_dir)
  eos = _endoftext_id(tokenizer) if os.path.isfile(tokenizer) else 0
  with atomic_directory(out, replace_files=hf.EXPORT_FILES + (TOKENIZER_FILE,)) as tmp:
    files = hf.save_pretrained(model, tmp, max_shard_size=max_shard_size, bos_token_id=eos,
                               eos_token_id=eos)
    if os.path.isfile(tokenizer):
      shutil.copyfile(tokenizer, os.path.join(tmp, TOKENIZER_FILE))
      files.append(TOKENIZER_FILE)
  return files


def _endoftext_id(tokenizer_path: str) -> int:
  """The id of `<|endoftext|>` (StarCoder's bos = eos) in a tokenizer.json, else 0."""
  with open(tokenizer_path) as f:
    added = json.load(f).get("added_tokens", [])
  return next((t["id"] for t in added if t.get("content") == ENDOFTEXT), EOS_ID)


def main(command: str, argv: list[str]) -> int:
  files, bindings, rest = gin_config.split_gin_flags(argv)
  parser = argparse.ArgumentParser(prog=f"run.py {command}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--from_hf", help="Hugging Face model directory to import")
  parser.add_argument("--out", help="with --from_hf: the new starjax MODEL_DIR")
  parser.add_argument("--to_hf", help="Hugging Face directory to export into")
  parser.add_argument("--model_dir", help="with --to_hf: the starjax MODEL_DIR to export")
  parser.add_argument("--step", type=int, help="with --to_hf: checkpoint step (default newest)")
  parser.add_argument("--param_dtype", choices=("float32", "bfloat16", "float16"),
                      help="with --from_hf: parameter dtype (default: the checkpoint's)")
  parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                      help="with --from_hf: compute dtype (default: the parameter dtype)")
  parser.add_argument("--max_shard_size", default="5GB",
                      help="with --to_hf: largest safetensors file (default 5GB)")
  args = parser.parse_args(rest)
  if bool(args.from_hf) == bool(args.to_hf):
    parser.error("give --from_hf=DIR --out=MODEL_DIR, or --to_hf=DIR --model_dir=MODEL_DIR")
  if args.from_hf and not args.out:
    parser.error("--from_hf needs --out=MODEL_DIR (a new directory for the starjax checkpoint)")
  if args.to_hf and not args.model_dir:
    parser.error("--to_hf needs --model_dir=MODEL_DIR (the starjax run to export)")

  mesh_config = None
  if files or bindings:
    gin_config.parse(files, bindings)
    from starjax.sharding import MeshConfig  # pylint: disable=import-outside-toplevel
    mesh_config = MeshConfig()
  from starjax.convert.errors import ConversionError  # pylint: disable=import-outside-toplevel
  from starjax.sharding import MeshError  # pylint: disable=import-outside-toplevel
  try:
    if args.from_hf:
      out = from_hf(args.from_hf, args.out, param_dtype=args.param_dtype, dtype=args.dtype,
                    mesh_config=mesh_config)
      print(f"converted {args.from_hf} → {out} (checkpoints/0, config.gin"
            + (f", {TOKENIZER_FILE})" if os.path.isfile(os.path.join(out, TOKENIZER_FILE))
               else f"; no {TOKENIZER_FILE} in {args.from_hf}: copy one in to generate text)"))
    else:
      written = to_hf(args.model_dir, args.to_hf, step=args.step,
                      max_shard_size=args.max_shard_size)
      print(f"exported {args.model_dir} → {os.path.abspath(args.to_hf)} ({', '.join(written)})")
  except (ConversionError, MeshError, OSError) as e:
    print(f"run.py {command}: {e}", file=sys.stderr)
    return 2
  return 0
