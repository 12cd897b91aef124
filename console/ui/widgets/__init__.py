"""Widgets of the console: the proxy table and its parts."""

from console.ui.widgets.table import ProxyTable

__all__ = ["ProxyTable"]
