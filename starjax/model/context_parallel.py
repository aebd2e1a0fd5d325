"""Context parallelism: each sequence split over the `context` mesh axis, balanced for causality.

Under a causal mask the keys a query sees grow with its index, so cutting a sequence into C
contiguous shards leaves the last shard 2C - 1 times the first one's attention work. Cut into
2C chunks instead and give shard i chunks i and 2C - 1 - i: every shard then does the same work
(the load-balanced layout). The training step reorders each row once into this layout; tokens,
targets, loss weights, positions and segment ids move together, so learned positions, RoPE and
packing see each token's own values, and the loss, a weighted sum over tokens, is unchanged.

Attention is the one place where tokens of different shards meet: each shard all-gathers the
keys and values over the axis (kv_heads × head_dim per token: 2 × 128 values for MQA, small
next to the queries it keeps local), puts them back in sequence order, and attends its own
queries, masked by their original indices. Everything else in a block is per token.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P


def _chunk_order(degree: int) -> list[int]:
  """The chunks in layout order: shard i holds chunks i and 2·degree - 1 - i."""
  return [c for i in range(degree) for c in (i, 2 * degree - 1 - i)]


def _check_length(length: int, degree: int) -> int:
  if length % (2 * degree):
    raise ValueError(f"sequence length {length} is not a multiple of 2 × context degree "
                     f"{degree} = {2 * degree} chunks: use a SEQ_LEN that is, or "
                     f"MeshConfig.context=1")
  return length // (2 * degree)


def load_balanced_order(length: int, degree: int) -> np.ndarray:
  """int32 [length]: the original sequence index of each position of the layout."""
  chunk = _check_length(length, degree)
  return np.concatenate([np.arange(c * chunk, (c + 1) * chunk, dtype=np.int32)
                         for c in _chunk_order(degree)])


def _permute_chunks(x: jax.Array, degree: int, axis: int, order: Sequence[int]) -> jax.Array:
  # Static slices and one concatenate: XLA turns a reorder of a sequence that is replicated
  # (or sharded) into local copies, where a gather with an index array would not be.
  chunk = _check_length(x.shape[axis], degree)
  return jnp.concatenate([jax.lax.slice_in_dim(x, c * chunk, (c + 1) * chunk, axis=axis)
                          for c in order], axis=axis)


def to_load_balanced(x: jax.Array, degree: int, axis: int = 1) -> jax.Array:
  """x in sequence order along `axis` → the load-balanced layout (identity for degree 1)."""
  return x if degree == 1 else _permute_chunks(x, degree, axis, _chunk_order(degree))


def from_load_balanced(x: jax.Array, degree: int, axis: int = 1) -> jax.Array:
  """The inverse of to_load_balanced: the layout along `axis` → sequence order."""
  if degree == 1:
    return x
  inverse = np.argsort(_chunk_order(degree)).tolist()
  return _permute_chunks(x, degree, axis, inverse)


def query_block(length: int, degree: int, preferred: int) -> int:
  """A query block for chunked attention on one shard's [2 × chunk] queries that never
  straddles the shard's two chunks (a block's queries must be contiguous in the sequence for
  its sliding-window key span): `preferred` if it divides a chunk, else the whole chunk."""
  chunk = _check_length(length, degree)
  return preferred if chunk % preferred == 0 else chunk


def attend_across_context(attend: Callable, q, k, v, q_index, q_segments, kv_segments,
                          dropout_key, *, mesh, axes: tuple[str, ...], degree: int):
  """Attention with the sequence split over mesh `axes`, all arrays in the layout.

  q [b, t, heads, d], k/v [b, t, kv_heads, d], q_index / q_segments / kv_segments [b, t]
  (q_index: each query's original index). attend(q, k, v, q_index, q_segments, kv_segments,
  dropout_key) runs on one shard's queries against all keys in sequence order.
  Returns [b, t, heads, d] in the layout, split like q.
  """
  seq = P(None, axes)

  def local(q, k, v, q_index, q_segments, kv_segments, *key):
    gather = lambda x: from_load_balanced(  # noqa: E731
        jax.lax.all_gather(x, axes, axis=1, tiled=True), degree)
    # Each shard draws its own dropout bits.
    key = jax.random.fold_in(key[0], jax.lax.axis_index(axes)) if key else None
    return attend(q, gather(k), gather(v), q_index, q_segments, gather(kv_segments), key)

  args = (q, k, v, q_index, q_segments, kv_segments)
  specs = (seq,) * len(args)
  if dropout_key is not None:
    args, specs = args + (dropout_key,), specs + (P(),)
  # Manual over the context axes only: batch, heads and the rest stay sharded by the compiler.
  shard = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=seq,
                        axis_names=frozenset(axes), check_vma=False)
  return shard(*args)

