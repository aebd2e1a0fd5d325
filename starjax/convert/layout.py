"""Where every starjax parameter lives in a Hugging Face checkpoint, and how it is laid out.

starjax keeps a block's parameters stacked over a leading `layers` axis and stores kernels as
[in, out] with heads split out (query kernel [embed, heads, head_dim], out kernel [heads,
head_dim, embed]); PyTorch keeps one tensor per layer and nn.Linear weights as [out, in] with
heads flattened. GPTBigCode fuses query, key and value into one `c_attn`:

    multi-query (multi_query=true):  rows = [query: heads × head_dim | key: hd | value: hd]
    multi-head  (multi_query=false): rows = [head 0: q k v | head 1: q k v | ...] (interleaved)

A TensorMap describes one parameter's place, and the same description drives both directions:
`read_part` pulls exactly the region of the HF tensor that a slice of the parameter needs
(so each device reads only its shard), `write_part` puts a layer's parameter back.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from starjax.convert import hf_config
from starjax.convert.safetensors_io import Checkpoint
from starjax.model.config import DecoderConfig

# Buffers some checkpoints carry that are not parameters (recomputed by every implementation).
IGNORED_SUFFIXES = (".rotary_emb.inv_freq", ".attn.bias", ".attn.masked_bias")
TIED_HEAD = "lm_head.weight"  # present in some tied checkpoints; the embedding is used instead


@dataclasses.dataclass(frozen=True)
class TensorMap:
  """How one starjax parameter is stored in a Hugging Face checkpoint.

  The HF tensor is [rows] or [rows, cols]. The parameter (one layer of it, if `stacked`) is
  that tensor's region reshaped to (*row_dims, *col_dims), reordered to (*col_dims, *row_dims)
  when `transposed` (PyTorch [out, in] → starjax [in, out]).

  path: the parameter's path in the model's pure state dict.
  hf_name: the HF tensor; `{i}` is the layer for stacked parameters.
  hf_shape: the whole HF tensor (larger than the parameter when several are fused).
  row_offset: first HF row of this parameter in a fused tensor (MQA c_attn).
  groups: (count, index) when HF interleaves `count` parameters per leading row index
    (MHA c_attn: per head q, k, v): HF rows are [row_dims[0], count, *row_dims[1:]].
  """
  path: tuple[str, ...]
  hf_name: str
  hf_shape: tuple[int, ...]
  row_dims: tuple[int, ...]
  col_dims: tuple[int, ...] = ()
  transposed: bool = False
  row_offset: int = 0
  groups: tuple[int, int] | None = None
  stacked: bool = True

  @property
  def shape(self) -> tuple[int, ...]:
    """One layer's parameter shape in starjax."""
    if self.transposed:
      return (*self.col_dims, *self.row_dims)
    return (*self.row_dims, *self.col_dims)

  def hf_names(self, num_layers: int) -> list[str]:
    if self.stacked:
      return [self.hf_name.format(i=i) for i in range(num_layers)]
    return [self.hf_name]

  def _split(self, items: tuple) -> tuple[tuple, tuple]:
    """(row part, col part) of something indexed like the starjax parameter."""
    if self.transposed:
      return items[len(self.col_dims):], items[:len(self.col_dims)]
    return items[:len(self.row_dims)], items[len(self.row_dims):]

  def read_part(self, checkpoint: Checkpoint, hf_name: str,
                index: tuple[slice, ...]) -> np.ndarray:
    """The parameter's region `index` (slices over self.shape) read from tensor `hf_name`.

    Only the leading row (and column) dimension is narrowed in the file read; head_dim, which
    is never sharded, is cut afterwards.
    """
    index = tuple(slice(*s.indices(n)) for s, n in zip(index, self.shape))
    row_index, col_index = self._split(index)
    count, which = self.groups or (1, 0)
    inner_rows = math.prod(self.row_dims[1:])
    first = row_index[0]
    rows = slice(self.row_offset + first.start * count * inner_rows,
                 self.row_offset + first.stop * count * inner_rows)
    cols = None
    col_shape: tuple[int, ...] = ()
    if self.col_dims:
      inner_cols = math.prod(self.col_dims[1:])
      cols = slice(col_index[0].start * inner_cols, col_index[0].stop * inner_cols)
      col_shape = (col_index[0].stop - col_index[0].start, *self.col_dims[1:])
    block = checkpoint.read(hf_name, rows, cols)
    block = block.reshape(first.stop - first.start, count, *self.row_dims[1:], *col_shape)
    block = block[:, which]
    block = block[(slice(None), *row_index[1:], slice(None), *col_index[1:])[:block.ndim]]
    if self.transposed:
      n_rows = len(self.row_dims)
      block = block.transpose(*range(n_rows, block.ndim), *range(n_rows))
    return block

  def write_part(self, hf_tensor: np.ndarray, layer_value: np.ndarray) -> None:
    """Writes one layer's parameter value (shaped self.shape) into its HF tensor, in place."""
    value = np.asarray(layer_value)
    if self.transposed:
      n_cols = len(self.col_dims)
      value = value.transpose(*range(n_cols, value.ndim), *range(n_cols))
    count, which = self.groups or (1, 0)
    lead, inner = self.row_dims[0], math.prod(self.row_dims[1:])
    cols = hf_tensor.shape[1:]
    region = hf_tensor[self.row_offset:self.row_offset + lead * count * inner]
    region.reshape(lead, count, inner, *cols)[:, which] = value.reshape(lead, inner, *cols)


def tensor_maps(config: DecoderConfig) -> list[TensorMap]:
  """Every parameter of a decoder with `config`, in the HF architecture that computes it."""
  if hf_config.model_type_for(config) == hf_config.GPT_BIGCODE:
    return _gpt_bigcode(config)
  return _starcoder2(config)


def _linear(path, weight, bias, *, rows, cols, use_bias, hf_rows=None, row_offset=0,
            groups=None):
  """The kernel (and bias) of an nn.Linear with weight [rows, cols] = [out, in]; `rows` and
  `cols` are starjax's split of them (e.g. heads × head_dim)."""
  hf_rows = hf_rows or math.prod(rows)
  maps = [TensorMap(path + ("kernel",), weight, (hf_rows, math.prod(cols)), rows, cols,
                    transposed=True, row_offset=row_offset, groups=groups)]
  if use_bias:
    maps.append(TensorMap(path + ("bias",), bias, (hf_rows,), rows, row_offset=row_offset,
                          groups=groups))
  return maps


def _norm(path, prefix, d, stacked=True):
  return [TensorMap(path + ("scale",), prefix + ".weight", (d,), (d,), stacked=stacked),
          TensorMap(path + ("bias",), prefix + ".bias", (d,), (d,), stacked=stacked)]


def _shared(config: DecoderConfig, embed: str, final_norm: str) -> list[TensorMap]:
  c = config
  maps = [TensorMap(("wte", "embedding"), embed, (c.vocab_size, c.hidden_size),
                    (c.vocab_size,), (c.hidden_size,), stacked=False)]
  maps += _norm(("ln_f",), final_norm, c.hidden_size, stacked=False)
  if not c.tie_embeddings:
    maps.append(TensorMap(("lm_head", "kernel"), "lm_head.weight", (c.vocab_size, c.hidden_size),
                          (c.vocab_size,), (c.hidden_size,), transposed=True, stacked=False))
  return maps


def _block(config: DecoderConfig, prefix: str, names: dict[str, str]) -> list[TensorMap]:
  """Norms, attention output and MLP of a block: the same shapes in both architectures."""
  c = config
  d, h, hd, m = c.hidden_size, c.num_heads, c.resolved_head_dim, c.mlp_dim
  maps = _norm(("blocks", "ln_1"), prefix + names["ln_1"], d)
  maps += _norm(("blocks", "ln_2"), prefix + names["ln_2"], d)
  out = prefix + names["out"]
  maps += _linear(("blocks", "attn", "out"), out + ".weight", out + ".bias", rows=(d,),
                  cols=(h, hd), use_bias=c.use_bias)
  fc, proj = prefix + names["fc"], prefix + names["proj"]
  maps += _linear(("blocks", "mlp", "fc"), fc + ".weight", fc + ".bias", rows=(m,), cols=(d,),
                  use_bias=c.use_bias)
  maps += _linear(("blocks", "mlp", "proj"), proj + ".weight", proj + ".bias", rows=(d,),
                  cols=(m,), use_bias=c.use_bias)
  return maps


def _gpt_bigcode(config: DecoderConfig) -> list[TensorMap]:
  c = config
  d, h, kv, hd = c.hidden_size, c.num_heads, c.num_kv_heads, c.resolved_head_dim
  maps = _shared(c, "transformer.wte.weight", "transformer.ln_f")
  maps.append(TensorMap(("wpe", "embedding"), "transformer.wpe.weight", (c.max_seq_len, d),
                        (c.max_seq_len,), (d,), stacked=False))
  prefix = "transformer.h.{i}."
  maps += _block(c, prefix, {"ln_1": "ln_1", "ln_2": "ln_2", "out": "attn.c_proj",
                             "fc": "mlp.c_fc", "proj": "mlp.c_proj"})
  fused = prefix + "attn.c_attn"
  fused_rows = (h + 2 * kv) * hd
  for j, (name, heads) in enumerate((("query", h), ("key", kv), ("value", kv))):
    if kv == 1:  # multi-query: [query | key | value] one after another
      placement = dict(row_offset=(0, h * hd, h * hd + hd)[j])
    else:  # multi-head: q, k, v interleaved per head
      placement = dict(groups=(3, j))
    maps += _linear(("blocks", "attn", name), fused + ".weight", fused + ".bias",
                    rows=(heads, hd), cols=(d,), use_bias=True, hf_rows=fused_rows, **placement)
  return maps


def _starcoder2(config: DecoderConfig) -> list[TensorMap]:
  c = config
  d, h, kv, hd = c.hidden_size, c.num_heads, c.num_kv_heads, c.resolved_head_dim
  maps = _shared(c, "model.embed_tokens.weight", "model.norm")
  prefix = "model.layers.{i}."
  maps += _block(c, prefix, {"ln_1": "input_layernorm", "ln_2": "post_attention_layernorm",
                             "out": "self_attn.o_proj", "fc": "mlp.c_fc",
                             "proj": "mlp.c_proj"})
  for name, proj, heads in (("query", "q_proj", h), ("key", "k_proj", kv),
                            ("value", "v_proj", kv)):
    base = prefix + "self_attn." + proj
    maps += _linear(("blocks", "attn", name), base + ".weight", base + ".bias",
                    rows=(heads, hd), cols=(d,), use_bias=c.use_bias)
  return maps


def is_ignored(name: str, config: DecoderConfig) -> bool:
  """Tensors a checkpoint may hold that starjax does not need."""
  return name.endswith(IGNORED_SUFFIXES) or (config.tie_embeddings and name == TIED_HEAD)
