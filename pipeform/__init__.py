"""pipeform: Prefect pipelines as code.

Stages, each a package: spec (load and check YAML) -> compiler (IR, Prefect flows)
-> reconciler (plan and apply against a Prefect server). The CLI ties them together.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pipeform")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
