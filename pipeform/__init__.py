"""pipeform: Prefect pipelines as code.

Stages, each a package: spec (load and check YAML) -> compiler (IR, Prefect flows)
-> reconciler (plan and apply against a Prefect server). The CLI ties them together.
"""


def __getattr__(name: str) -> str:
    # Lazy: importlib.metadata costs ~0.1 s, and every flow run in an Environment imports
    # this package first (python -m pipeform.environments.launch) without needing it.
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pipeform")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"
