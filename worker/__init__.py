"""texter-worker: the runtime kernel shared by producers and consumers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("texter-worker")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
