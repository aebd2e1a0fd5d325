"""The StarCoder-family decoder in Flax NNX: config, modules, FLOP counting."""

from starjax.model.config import DecoderConfig
from starjax.model.decoder import (Decoder, KVCache, abstract_decoder, create_decoder,
                                   unstack_layers)

__all__ = ["DecoderConfig", "Decoder", "KVCache", "abstract_decoder", "create_decoder",
           "unstack_layers"]
