"""attendance: a command-line toolkit for school and college attendance officers."""

__version__ = "0.1.0"
