"""A checkpoint with a truncated or missing array file is refused with one line naming the step
directory (exit 1), never a traceback, and nothing in MODEL_DIR is changed."""

import glob
import os

import pytest

import run
from starjax.model import DecoderConfig
from starjax.model_dir import CheckpointCorruptError, restore_params
from tests.conftest import write_model_dir

TINY = DecoderConfig(vocab_size=512, num_layers=1, hidden_size=32, num_heads=2, num_kv_heads=1,
                     mlp_dim=64, max_seq_len=64)


def array_files(model_dir):
  files = [f for f in glob.glob(os.path.join(model_dir, "checkpoints", "0", "params", "**", "d",
                                             "*"), recursive=True) if os.path.isfile(f)]
  assert files, "the checkpoint layout changed: no array data files found"
  return sorted(files, key=os.path.getsize, reverse=True)


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_array_file_is_named_and_nothing_is_changed(damage, tmp_path, tokenizer_path,
                                                               capsys):
  model_dir = write_model_dir(tmp_path / "model", TINY, tokenizer_path)
  largest = array_files(model_dir)[0]
  if damage == "truncate":
    os.truncate(largest, 100)
  else:
    for path in array_files(model_dir):
      os.remove(path)
  before = sorted(os.listdir(os.path.join(model_dir, "checkpoints", "0")))
  with pytest.raises(CheckpointCorruptError, match=r"checkpoints/0: checkpoint step 0 cannot be"):
    restore_params(model_dir)
  assert run.main(["generate", f"--model_dir={model_dir}", "--prompt=x"]) == 1
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "Traceback" not in err
  assert "missing or truncated" in err and os.path.join("checkpoints", "0") in err
  assert sorted(os.listdir(os.path.join(model_dir, "checkpoints", "0"))) == before
