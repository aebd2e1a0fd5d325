"""Bad input: errors name the file or tensor, and nothing is written to the output on failure."""

import json
import os

import pytest
from safetensors.numpy import load_file, save_file

from starjax.convert import cli, hf, layout
from starjax.convert.errors import ConversionError
from tests.convert.conftest import copy_dir


@pytest.fixture
def broken(hf_dirs, tmp_path):
  """A private copy of the MQA model's directory, to damage."""
  return copy_dir(hf_dirs["gpt_bigcode_mqa"][0], str(tmp_path / "hf"))


def edit_config(path, **changes):
  with open(os.path.join(path, "config.json")) as f:
    config = json.load(f)
  config.update(changes)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)


def rewrite_weights(path, edit):
  weights = os.path.join(path, "model.safetensors")
  tensors = load_file(weights)
  edit(tensors)
  save_file(tensors, weights, metadata={"format": "pt"})


def test_unsupported_model_type_is_named(broken):
  edit_config(broken, model_type="llama")
  with pytest.raises(ConversionError, match="model_type='llama' is not supported"):
    hf.load_pretrained(broken)


def test_missing_config_json_is_named(broken):
  os.remove(os.path.join(broken, "config.json"))
  with pytest.raises(ConversionError, match=f"{broken}/config.json is missing"):
    hf.load_pretrained(broken)


def test_missing_tensor_is_named(broken):
  rewrite_weights(broken, lambda t: t.pop("transformer.h.1.mlp.c_fc.weight"))
  with pytest.raises(ConversionError,
                     match=r"1 tensors are missing: transformer\.h\.1\.mlp\.c_fc\.weight"):
    hf.load_pretrained(broken)


def test_shape_mismatch_names_the_tensor_and_both_shapes(broken):
  edit_config(broken, n_inner=200)
  with pytest.raises(ConversionError, match=r"tensor transformer\.h\.0\.mlp\.c_fc\.weight in "
                     r"model\.safetensors has shape \[256, 64\] but config\.json implies "
                     r"\[200, 64\]"):
    hf.load_pretrained(broken)


def test_unknown_tensor_is_named_rather_than_dropped(broken):
  def add(tensors):
    tensors["transformer.h.0.crossattention.q_attn.weight"] = tensors["transformer.ln_f.weight"]
  rewrite_weights(broken, add)
  with pytest.raises(ConversionError, match=r"crossattention\.q_attn\.weight"):
    hf.load_pretrained(broken)


def test_truncated_safetensors_names_file_and_tensor(broken):
  weights = os.path.join(broken, "model.safetensors")
  with open(weights, "r+b") as f:
    f.truncate(os.path.getsize(weights) // 2)
  with pytest.raises(ConversionError, match=f"{weights} is truncated: tensor "):
    hf.load_pretrained(broken)


def test_failed_cli_conversion_writes_nothing(broken, tmp_path, capsys):
  rewrite_weights(broken, lambda t: t.pop("transformer.wpe.weight"))
  out = tmp_path / "out"
  assert cli.main("convert", [f"--from_hf={broken}", f"--out={out}"]) == 2
  assert "transformer.wpe.weight" in capsys.readouterr().err
  assert not out.exists()
  assert sorted(os.listdir(tmp_path)) == ["hf"]  # no temporary directory left behind


def test_conversion_into_a_non_empty_directory_is_refused_and_leaves_it(hf_dirs, tmp_path,
                                                                        capsys):
  out = tmp_path / "run"
  out.mkdir()
  (out / "metrics.jsonl").write_text("{}\n")
  assert cli.main("convert", [f"--from_hf={hf_dirs['starcoder2'][0]}", f"--out={out}"]) == 2
  assert "is not empty" in capsys.readouterr().err
  assert os.listdir(out) == ["metrics.jsonl"]


def test_export_failing_midway_leaves_the_target_directory_as_it_was(loaded, tmp_path,
                                                                     monkeypatch):
  target = tmp_path / "export"
  hf.save_pretrained(loaded["gpt_bigcode_mqa"], str(target))
  (target / "tokenizer.json").write_text("{}")
  before = {name: (target / name).read_bytes() for name in os.listdir(target)}
  calls = []
  original = layout.TensorMap.write_part

  def fail_on_the_fifth(self, *args):
    calls.append(self.hf_name)
    if len(calls) == 5:
      raise OSError("disk full")
    return original(self, *args)
  monkeypatch.setattr(layout.TensorMap, "write_part", fail_on_the_fifth)
  with pytest.raises(OSError, match="disk full"):
    hf.save_pretrained(loaded["starcoder2"], str(target))
  assert {name: (target / name).read_bytes() for name in os.listdir(target)} == before
  assert sorted(os.listdir(tmp_path)) == ["export"]


def test_run_py_convert_reports_bad_input_with_exit_code_2(tmp_path):
  from tests.train.conftest import run_cli  # pylint: disable=import-outside-toplevel
  result = run_cli("convert", f"--from_hf={tmp_path}", f"--out={tmp_path}/out")
  assert result.returncode == 2
  assert f"{tmp_path}/config.json is missing" in result.stderr
  assert not (tmp_path / "out").exists()
