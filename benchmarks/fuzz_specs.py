"""Fuzzing `pipeform validate` with untrusted specs (issue 13).

    python benchmarks/fuzz_specs.py [--inputs 10000] [--seed N] [--subprocess 30]

Inputs are mutations of every YAML file under examples/ and of a bad corpus (reproducers of
past crashes and stalls, hostile expressions, tags, anchors). Each mutation applies 1-4
operations (delete, duplicate or swap lines, splice a hostile token, re-indent, truncate,
repeat a fragment, flip bytes). Every input is validated twice, in-process
(`load_project`) and through the real CLI (`validate --output json`, in-process typer
runner); a sample also through a fresh `pipeform` process. Invariants, each a failure:
exit code 0 or 1, valid JSON, no traceback, no `internal.error`, every diagnostic located
(file, and line/column unless it is about the whole file), the same verdict both ways,
under 2 s of CPU per input (30 s wall: a stall), and a bounded peak RSS. Prints CPU time per
input (mean, p99, max) and the peak memory; exits 1 on the first broken invariant with the input saved to disk.

tests/test_fuzz_specs.py runs the same checks with hypothesis on a fixed budget.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The limit is on the work done for one input: CPU seconds of the validating thread, which a
# loaded machine does not inflate (validation is single-threaded). Catastrophic backtracking or
# blow-ups burn CPU and hit it; a wait that burns none (a lock, a read that blocks) hits the
# generous wall-clock limit instead, which only a stall and not a busy machine reaches.
MAX_SECONDS = 2.0
MAX_WALL_SECONDS = 30.0
MAX_RSS_MB = 1536
# Diagnostics about a whole file (or path) carry no line.
FILE_LEVEL = {"file.not-found", "file.too-large", "file.unreadable", "project.too-large", "internal.error"}

HEADER = "apiVersion: pipeform/v1\nkind: Variable\nmetadata:\n  name: v\nspec:\n  value: "
BAD_CORPUS = [
    HEADER + "!!int\n",
    HEADER + "!!float\n",
    HEADER + "1" * 5000 + "\n",
    HEADER + "!!set [1, 2]\n",
    HEADER + "!!map 3\n",
    HEADER + "!!binary aGVsbG8=\n",
    HEADER + "!!timestamp 2020-01-01\n",
    HEADER + "!!python/object/apply:os.system ['touch /tmp/pipeform-fuzz-pwned']\n",
    "apiVersion: [a]\nkind: Flow\nmetadata: {name: a}\nspec: {}\n",
    "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: a}\nspec: {value: 1, 3: x}\n",
    "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: &R [*R]}\nspec: {}\n",
    HEADER + "'<< 1/0 >>'\n",
    HEADER + "\"<< 1 + 'a' >>\"\n",
    HEADER + "'<< (10**400)|float >>'\n",
    HEADER + "\"<< 'a'|format(1) >>\"\n",
    HEADER + "\"<< 'a'*10**8 >>\"\n",
    HEADER + "\"<< 'x'|center(10**9) >>\"\n",
    HEADER + "'<< [1]*10**9 >>'\n",
    HEADER + "'<< env.HOME >>'\n",
    HEADER + "'<< " + "+".join(["1"] * 3000) + " >>'\n",
    HEADER + "'<< env >>'\n",
    "a: " + "[" * 300 + "]" * 300 + "\n",
    "apiVersion: pipeform/v1\nkind: Variable\nmetadata: {name: v}\nspec:\n  value: 1\n  sensitive: '"
    + "<<" * 2000
    + "'\n",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  entrypoint: ../evil.py:f\n",
    # an invalid schedule and time zone: Prefect's own schedule classes are imported to check them
    "apiVersion: pipeform/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  entrypoint: flows.py:f\n"
    "  schedules:\n    - {cron: '61 * * * *', timezone: Mars/Olympus}\n",
]
TOKENS = [
    "!!int",
    "!!float",
    "!!bool",
    "!!map",
    "!!seq",
    "!!set",
    "!!str",
    "!!null",
    "!!binary",
    "!!omap",
    "!!python/object:os.system",
    "!Ref",
    "&a",
    "*a",
    "&b [*b]",
    "<<",
    ">>",
    "<< values.x >>",
    "<< env.HOME >>",
    "<< 1/0 >>",
    "<< 'a'*10**7 >>",
    "<< 10**10**5 >>",
    "<< range(10**6)|list >>",
    "$[",
    "]",
    "$[ params.x ]",
    "$[ tasks.a.result ]",
    "{",
    "}",
    "[",
    ",",
    ": ",
    "- ",
    "? ",
    "'",
    '"',
    "\\",
    "\t",
    "#",
    "---",
    "...",
    "%YAML 1.1",
    "~",
    "null",
    "true",
    "yes",
    "0x1F",
    "1e999",
    "-.inf",
    ".nan",
    "9" * 40,
    "9" * 4400,
    "2024-01-01",
    "\u00e9",
    "\U0001f600",
    "\x00",
    "\x85",
    "\ufeff",
    "3:",
    "[a]:",
    "{a: 1}:",
    "apiVersion: pipeform/v1",
    "kind: Flow",
    "kind: Deployment",
    "kind: Project",
    "metadata: {name: x}",
    "spec: {}",
    "entrypoint: ../x.py:f",
    "entrypoint: /etc/passwd.py:f",
]


def corpus() -> list[str]:
    files = sorted((ROOT / "examples").rglob("*.yaml"))
    return [f.read_text(encoding="utf-8") for f in files] + BAD_CORPUS


def mutate(text: str, rng: random.Random) -> str:
    """1-4 random edits of a spec text (one, half of the time)."""
    for _ in range(rng.choice([1, 1, 1, 2, 3, 4])):
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        op = rng.randrange(9)
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:  # a hostile token somewhere in a line
            line = lines[i]
            k = rng.randint(0, len(line))
            lines[i] = line[:k] + rng.choice(TOKENS) + line[k:]
        elif op == 4:  # replace a value
            key, sep, _ = lines[i].partition(": ")
            if sep:
                lines[i] = key + sep + rng.choice(TOKENS)
        elif op == 5:  # re-indent
            lines[i] = " " * rng.choice([0, 1, 2, 3, 4, 8]) + lines[i].lstrip()
        elif op == 6:  # truncate
            text = "\n".join(lines)
            return text[: rng.randint(0, len(text))]
        elif op == 7:  # repeat a fragment
            line = lines[i]
            if line:
                a = rng.randrange(len(line))
                lines[i] = line[:a] + line[a : a + rng.randint(1, 8)] * rng.choice([2, 10, 100, 1000]) + line[a:]
        else:  # flip a character
            line = lines[i]
            if line:
                k = rng.randrange(len(line))
                lines[i] = line[:k] + chr(rng.randrange(1, 0x250)) + line[k + 1 :]
        text = "\n".join(lines)
    return text


def located(d: dict, file: str) -> bool:
    if d.get("file") is None:
        return False
    return d["code"] in FILE_LEVEL or bool(d.get("line") and d.get("column"))


class Checker:
    """Validates inputs both ways and checks the invariants (raises AssertionError)."""

    def __init__(self) -> None:
        import typer.testing

        from pipeform.cli.app import _register, app

        _register()
        self.app, self.runner, self._testing = app, typer.testing.CliRunner(), typer.testing
        # The real command, built once: typer's runner rebuilds the whole command tree per
        # call (about 0.1 s), which would dwarf the validation being measured.
        self.command = typer.testing._get_command(app)

    def cli(self, *args: str):
        build, self._testing._get_command = self._testing._get_command, lambda _app: self.command
        try:
            return self.runner.invoke(self.app, list(args), catch_exceptions=True)
        finally:
            self._testing._get_command = build

    def warm_up(self, texts: list[str], folder: Path) -> None:
        """Pay the one-time costs (imports such as Prefect's schedules, schema compilation)
        before anything is timed: the limit is about work per input, not process start."""
        from pipeform.spec import load_project

        for i, text in enumerate(texts):
            path = folder / f"warm-{i}.yaml"
            path.write_text(text, encoding="utf-8")
            load_project([path])
            self.cli("validate", str(path), "--output", "json")
            path.unlink()

    def check(self, path: Path) -> tuple[float, bool]:
        from pipeform.spec import load_project

        with timed("in-process validate") as seconds:
            project, diagnostics = load_project([path])
        codes = [d.code for d in diagnostics]
        assert "internal.error" not in codes, [str(d) for d in diagnostics if d.code == "internal.error"]
        with timed("CLI validate") as cli_seconds:
            result = self.cli("validate", str(path), "--output", "json")
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        assert result.exit_code in (0, 1), result.exit_code
        assert "Traceback" not in result.output
        payload = json.loads(result.output)
        assert payload["ok"] == (result.exit_code == 0) == (project is not None), "verdicts differ"
        bad = [d for d in payload["diagnostics"] if not located(d, str(path))]
        assert not bad, f"unlocated: {bad}"
        return max(seconds[0], cli_seconds[0]), project is not None


@contextlib.contextmanager
def timed(what: str) -> Iterator[list[float]]:
    """Yields [cpu_seconds], filled in on exit; asserts both limits (CPU and wall clock)."""
    out: list[float] = [0.0]
    cpu, wall = time.thread_time(), time.monotonic()
    yield out
    out[0] = time.thread_time() - cpu
    wall = time.monotonic() - wall
    assert out[0] < MAX_SECONDS, f"{what} took {out[0]:.2f} s of CPU ({wall:.2f} s wall)"
    assert wall < MAX_WALL_SECONDS, f"{what} took {wall:.2f} s wall ({out[0]:.2f} s of CPU): a stall"


def check_subprocess(path: Path) -> None:
    """The same input through a fresh `pipeform` process: exit 0/1, JSON, no traceback."""
    out = subprocess.run(
        [sys.executable, "-m", "pipeform", "validate", str(path), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode in (0, 1), (out.returncode, out.stderr[-2000:])
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-2000:]
    json.loads(out.stdout)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--subprocess", type=int, default=30, help="How many inputs also go through a fresh process.")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    seeds = corpus()
    checker = Checker()
    times: list[float] = []
    valid = 0
    with tempfile.TemporaryDirectory(prefix="pipeform-fuzz-") as tmp:
        checker.warm_up(seeds, Path(tmp))
        for n in range(args.inputs):
            text = mutate(rng.choice(seeds), rng)
            path = Path(tmp) / f"input-{n}.yaml"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            try:
                seconds, ok = checker.check(path)
                times.append(seconds)
                valid += ok
                if n < args.subprocess:
                    check_subprocess(path)
            except AssertionError as exc:
                kept = Path(tempfile.gettempdir()) / f"pipeform-fuzz-failure-{seed}-{n}.yaml"
                kept.write_text(text, encoding="utf-8", errors="surrogatepass")
                print(f"FAILED input {n} (seed {seed}), saved as {kept}: {exc}")
                sys.exit(1)
            assert rss_mb() < MAX_RSS_MB, f"peak RSS {rss_mb():.0f} MB"
            path.unlink()
    times.sort()
    mean = sum(times) / len(times)
    p99 = times[int(len(times) * 0.99) - 1]
    print(f"seed {seed}: {len(times)} inputs ({valid} valid, {len(times) - valid} refused), 0 failures")
    print(f"CPU time per input (slower of in-process and CLI): mean {mean * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,")
    print(f"  max {times[-1] * 1000:.0f} ms (limit {MAX_SECONDS * 1000:.0f} ms); peak RSS {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
