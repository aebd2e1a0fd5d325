"""Hugging Face `config.json` ⇄ DecoderConfig, for `gpt_bigcode` and `starcoder2`.

    gpt_bigcode (StarCoder/StarCoderBase): MQA when multi_query else MHA, learned positions,
      n_inner (None = 4 × n_embd), bias everywhere, LM head tied unless tie_word_embeddings=false.
    starcoder2 (StarCoder2): GQA with num_key_value_heads, RoPE (theta under `rope_parameters`
      in transformers ≥ 5, `rope_theta` in older files), optional sliding window, use_bias.

Anything starjax's decoder would compute differently (another activation, RoPE scaling,
unscaled attention, cross-attention) is refused with an error naming the key, never silently
approximated: a converted model must give transformers' logits.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from starjax.convert.errors import ConversionError
from starjax.model.config import DecoderConfig

GPT_BIGCODE = "gpt_bigcode"
STARCODER2 = "starcoder2"
MODEL_TYPES = (GPT_BIGCODE, STARCODER2)
ARCHITECTURES = {GPT_BIGCODE: "GPTBigCodeForCausalLM", STARCODER2: "Starcoder2ForCausalLM"}
CONFIG_FILE = "config.json"

# transformers' names for the tanh approximation of GELU, which is what the decoder computes
# (jax.nn.gelu(approximate=True)); all three are the same formula.
TANH_GELU = ("gelu_pytorch_tanh", "gelu_new", "gelu_fast")
# config.json dtype names (transformers ≥ 5 writes `dtype`, older versions `torch_dtype`).
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
# transformers' defaults for the keys a config.json may leave out.
DEFAULT_ROPE_THETA = 10000.0
GPT_BIGCODE_DROPOUT = 0.1
STARCODER2_DROPOUT = 0.0


def read_config(hf_dir: str) -> dict[str, Any]:
  """The parsed `config.json` of a Hugging Face model directory."""
  path = os.path.join(hf_dir, CONFIG_FILE)
  if not os.path.isdir(hf_dir):
    raise ConversionError(f"{hf_dir}: no such directory (expected a Hugging Face model "
                          f"directory with {CONFIG_FILE} and *.safetensors)")
  if not os.path.isfile(path):
    raise ConversionError(f"{path} is missing: a Hugging Face model directory needs its "
                          f"{CONFIG_FILE} (save it with transformers' save_pretrained)")
  try:
    with open(path) as f:
      config = json.load(f)
  except (OSError, ValueError) as e:
    raise ConversionError(f"{path}: not a readable JSON file ({e})") from e
  if not isinstance(config, dict):
    raise ConversionError(f"{path}: expected a JSON object, got {type(config).__name__}")
  return config


def checkpoint_dtype(hf: dict[str, Any]) -> str | None:
  """The dtype config.json says the weights are stored in, or None if it does not say."""
  name = hf.get("dtype") or hf.get("torch_dtype")
  if name is None:
    return None
  return DTYPES.get(str(name).replace("torch.", ""))


def _require(hf: dict[str, Any], key: str, source: str):
  if key not in hf or hf[key] is None:
    raise ConversionError(f"{source}: `{key}` is missing; it decides the model's shape")
  return hf[key]


def _refuse(source: str, key: str, value, why: str):
  raise ConversionError(f"{source}: {key}={value!r} is not supported ({why})")


def _check_activation(hf: dict[str, Any], key: str, source: str) -> None:
  activation = hf.get(key, "gelu_pytorch_tanh")
  if activation not in TANH_GELU:
    _refuse(source, key, activation,
            f"starjax's MLP computes the tanh-approximated GELU: one of {', '.join(TANH_GELU)}")


def rope_theta(hf: dict[str, Any], source: str) -> float:
  """RoPE base from `rope_parameters` (transformers ≥ 5) or `rope_theta` (older files)."""
  parameters = hf.get("rope_parameters") or hf.get("rope_scaling")
  if parameters is not None:
    if not isinstance(parameters, dict):
      _refuse(source, "rope_parameters", parameters, "expected an object")
    rope_type = parameters.get("rope_type", parameters.get("type", "default"))
    if rope_type != "default":
      _refuse(source, "rope_parameters.rope_type", rope_type,
              "only plain RoPE ('default') is implemented, no scaling")
    if parameters.get("rope_theta") is not None:
      return float(parameters["rope_theta"])
  if hf.get("rope_theta") is not None:
    return float(hf["rope_theta"])
  return DEFAULT_ROPE_THETA


def decoder_config_from_hf(hf: dict[str, Any], *, source: str = CONFIG_FILE,
                           param_dtype: str | None = None,
                           dtype: str | None = None) -> DecoderConfig:
  """The DecoderConfig equivalent to a transformers config.json.

  param_dtype: how parameters are stored in starjax; None = the checkpoint's dtype (float32 if
    the config does not say). dtype: the compute dtype; None = param_dtype.
  """
  model_type = hf.get("model_type")
  if model_type not in MODEL_TYPES:
    raise ConversionError(
        f"{source}: model_type={model_type!r} is not supported; starjax converts "
        f"{' and '.join(MODEL_TYPES)} (StarCoder/StarCoderBase and StarCoder2)")
  param_dtype = param_dtype or checkpoint_dtype(hf) or "float32"
  try:
    common = dict(param_dtype=param_dtype, dtype=dtype or param_dtype,
                  vocab_size=int(_require(hf, "vocab_size", source)))
    if model_type == GPT_BIGCODE:
      config = _from_gpt_bigcode(hf, source, common)
    else:
      config = _from_starcoder2(hf, source, common)
  except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
    raise ConversionError(f"{source}: a size or setting is not a number of the right kind "
                          f"({e})") from e
  check_sizes(config, source)
  return config


# Far beyond any released model (StarCoder 15.5B: 40 layers, hidden 6144, vocab 49152), yet
# small enough that no list or array they size can exhaust a machine before the checkpoint is
# compared with them.
SIZE_LIMITS = {"num_layers": 1024, "hidden_size": 1 << 17, "num_heads": 1 << 12,
               "num_kv_heads": 1 << 12, "mlp_dim": 1 << 20, "max_seq_len": 1 << 24,
               "vocab_size": 1 << 24}


def check_sizes(config: DecoderConfig, source: str) -> None:
  """Refuses a config.json whose sizes are not positive or absurdly large (before anything is
  allocated by them)."""
  for field, limit in SIZE_LIMITS.items():
    value = getattr(config, field)
    if not isinstance(value, int) or not 1 <= value <= limit:
      raise ConversionError(f"{source}: {field}={value!r} is out of range (1..{limit:,}); "
                            "config.json is corrupt or not a StarCoder-family model")
  if config.num_heads % config.num_kv_heads:
    raise ConversionError(f"{source}: {config.num_heads} attention heads are not a multiple of "
                          f"{config.num_kv_heads} key/value heads")


def _decoder_config(**fields) -> DecoderConfig:
  """A DecoderConfig with every field given here or at its dataclass default: DecoderConfig is
  gin-configurable, and bindings made for training must not leak into a converted model."""
  for field in dataclasses.fields(DecoderConfig):
    fields.setdefault(field.name, field.default)
  return DecoderConfig(**fields)


def _from_gpt_bigcode(hf, source, common) -> DecoderConfig:
  _check_activation(hf, "activation_function", source)
  if not hf.get("scale_attn_weights", True):
    _refuse(source, "scale_attn_weights", False, "starjax always scales by 1/sqrt(head_dim)")
  if hf.get("add_cross_attention", False):
    _refuse(source, "add_cross_attention", True, "a decoder-only model has no cross-attention")
  hidden = int(_require(hf, "n_embd", source))
  heads = int(_require(hf, "n_head", source))
  if hidden % heads:
    raise ConversionError(f"{source}: n_embd={hidden} is not divisible by n_head={heads}")
  return _decoder_config(
      num_layers=int(_require(hf, "n_layer", source)), hidden_size=hidden, num_heads=heads,
      num_kv_heads=1 if hf.get("multi_query", True) else heads,
      mlp_dim=int(hf.get("n_inner") or 4 * hidden),
      max_seq_len=int(_require(hf, "n_positions", source)), position_embedding="learned",
      tie_embeddings=bool(hf.get("tie_word_embeddings", True)), use_bias=True,
      layer_norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)),
      dropout_rate=float(hf.get("resid_pdrop", GPT_BIGCODE_DROPOUT)), **common)


def _from_starcoder2(hf, source, common) -> DecoderConfig:
  _check_activation(hf, "hidden_act", source)
  hidden = int(_require(hf, "hidden_size", source))
  heads = int(_require(hf, "num_attention_heads", source))
  head_dim = hf.get("head_dim")
  window = hf.get("sliding_window")
  return _decoder_config(
      num_layers=int(_require(hf, "num_hidden_layers", source)), hidden_size=hidden,
      num_heads=heads, num_kv_heads=int(_require(hf, "num_key_value_heads", source)),
      head_dim=None if head_dim is None or head_dim == hidden // heads else int(head_dim),
      mlp_dim=int(_require(hf, "intermediate_size", source)),
      max_seq_len=int(_require(hf, "max_position_embeddings", source)),
      position_embedding="rope", rope_theta=rope_theta(hf, source),
      sliding_window=None if window is None else int(window),
      tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
      use_bias=bool(hf.get("use_bias", True)),
      layer_norm_eps=float(hf.get("norm_epsilon", 1e-5)),
      dropout_rate=float(hf.get("residual_dropout", STARCODER2_DROPOUT)), **common)


def model_type_for(config: DecoderConfig) -> str:
  """The transformers architecture that computes what `config` computes."""
  if config.position_embedding == "rope":
    return STARCODER2
  problems = []
  if config.num_kv_heads not in (1, config.num_heads):
    problems.append(f"num_kv_heads={config.num_kv_heads} (GPTBigCode has 1 or num_heads; "
                    f"grouped-query attention needs position_embedding='rope', i.e. StarCoder2)")
  if config.sliding_window is not None:
    problems.append(f"sliding_window={config.sliding_window} (GPTBigCode has none)")
  if not config.use_bias:
    problems.append("use_bias=False (GPTBigCode always has biases)")
  if config.resolved_head_dim * config.num_heads != config.hidden_size:
    problems.append(f"head_dim={config.resolved_head_dim} ≠ hidden_size / num_heads")
  if problems:
    raise ConversionError("this model has learned positions but no GPTBigCode equivalent: "
                          + "; ".join(problems))
  return GPT_BIGCODE


def hf_config_from_decoder(config: DecoderConfig, *, bos_token_id: int = 0,
                           eos_token_id: int = 0) -> dict[str, Any]:
  """A config.json (as a dict) that makes transformers build the same model."""
  c = config
  model_type = model_type_for(c)
  common = {
      "architectures": [ARCHITECTURES[model_type]], "model_type": model_type,
      "vocab_size": c.vocab_size, "bos_token_id": bos_token_id, "eos_token_id": eos_token_id,
      "initializer_range": c.resolved_init_std, "tie_word_embeddings": c.tie_embeddings,
      "dtype": c.param_dtype, "use_cache": True,
  }
  if model_type == GPT_BIGCODE:
    return dict(common, **{
        "n_layer": c.num_layers, "n_embd": c.hidden_size, "n_head": c.num_heads,
        "n_inner": c.mlp_dim, "n_positions": c.max_seq_len,
        "multi_query": c.num_kv_heads == 1, "activation_function": "gelu_pytorch_tanh",
        "layer_norm_epsilon": c.layer_norm_eps, "scale_attn_weights": True,
        "attention_softmax_in_fp32": True, "scale_attention_softmax_in_fp32": True,
        "resid_pdrop": c.dropout_rate, "embd_pdrop": c.dropout_rate,
        "attn_pdrop": c.dropout_rate,
    })
  hf = dict(common, **{
      "num_hidden_layers": c.num_layers, "hidden_size": c.hidden_size,
      "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads,
      "intermediate_size": c.mlp_dim, "max_position_embeddings": c.max_seq_len,
      "hidden_act": "gelu_pytorch_tanh", "norm_epsilon": c.layer_norm_eps,
      "use_bias": c.use_bias, "sliding_window": c.sliding_window,
      # Both spellings, so that transformers 4.x (rope_theta) and ≥ 5 (rope_parameters) agree.
      "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
      "rope_theta": c.rope_theta,
      "residual_dropout": c.dropout_rate, "embedding_dropout": c.dropout_rate,
      "attention_dropout": c.dropout_rate,
  })
  if c.head_dim is not None and c.head_dim != c.hidden_size // c.num_heads:
    hf["head_dim"] = c.head_dim
  return hf
