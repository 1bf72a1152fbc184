"""zdtm: a checkpoint/restore test harness for CRIU (ZDTM protocol), as a pytest plugin."""
__version__ = "0.1.0"
