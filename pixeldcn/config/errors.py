"""The error of a configuration value that cannot work."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says which and what to do."""
