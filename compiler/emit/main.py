"""Writes the `if __name__ == "__main__":` block: `python flow.py [--param NAME=VALUE ...]`
runs the flow with its defaults and the parameters given (values read as JSON when they
parse, else as strings), inside the flow's tags like the in-memory flow's own call."""

from __future__ import annotations

from .scope import Emitter
from .text import call, indented, layout, string


def main_block(e: Emitter) -> str:
    argparse = e.use("argparse", "")
    parser = e.fresh("parser")
    description = f"Run the pipeform flow {e.ir.name!r}; VALUE is read as JSON when it parses, else as a string."
    names = ", ".join(p.name for p in e.ir.params) or "none"
    lines = [
        layout([f"{parser} = ", call(f"{argparse}.ArgumentParser", description=string(description))], 4),
        layout(
            [
                call(
                    f"{parser}.add_argument",
                    string("--param"),
                    action=string("append"),
                    default="[]",
                    type=e.helper("param_arg"),
                    metavar=string("NAME=VALUE"),
                    help=string(f"a flow parameter (parameters: {names})"),
                )
            ],
            4,
        ),
    ]
    run = f"{e.flow_fn}(**dict({parser}.parse_args().param))"
    tags = e.ir.options.tags
    if tags:
        lines.append(layout(["with ", call(e.use("prefect", "tags"), *(string(t) for t in tags))], 4, ":") + ":")
        lines.append(indented(run))
    else:
        lines.append(run)
    return 'if __name__ == "__main__":\n' + "\n".join(indented(line) for line in lines)
