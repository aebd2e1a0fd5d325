"""The one exception type the data pipeline raises for bad input or configuration."""


class DataError(ValueError):
  """Bad data or data configuration. The message names the file, flag or value and the fix."""
