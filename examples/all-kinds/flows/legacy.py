"""An existing hand-written Prefect flow, deployed by entrypoint from pipeform."""

from prefect import flow


@flow(name="legacy-report")
def legacy_report(region: str = "eu", limit: int = 10) -> str:
    return f"{region}:{limit}"
