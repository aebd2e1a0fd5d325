"""The one error type of Hugging Face conversion."""


class ConversionError(ValueError):
  """A checkpoint, config or model that cannot be converted; the message names the file or
  tensor and says what to do."""
