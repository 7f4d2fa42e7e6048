"""The whole deploy under load: the service serves HTTP while the history migrates.

``python -m benchmarks.deploy --help``. See ``cli`` for the steps and the README's
benchmark section for the figures.
"""
