"""haconsole: a terminal operations console for HAProxy."""

__version__ = "0.1.0"
