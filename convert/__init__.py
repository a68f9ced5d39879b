"""`pipeform convert`: prefect.yaml files -> pipeform documents (see README.md)."""

from .core import Conversion, convert_files
from .write import write

__all__ = ["Conversion", "convert_files", "write"]
