"""speclang: safety specifications for learning agents."""

__version__ = "0.1.0"
