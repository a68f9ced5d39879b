"""Running uv the way this machine installs packages.

uv does not read pip's configuration, and its default index strategy differs from pip's
(first index that has a name wins, where pip merges every index). So pip's settings
(`pip.conf` files and PIP_* variables) are translated into uv options: index-url,
extra-index-url, find-links, trusted-host, no-index, and `--index-strategy
unsafe-best-match` (pip's behaviour) when there is more than one place to look. uv's own
settings (UV_* index variables, a uv.toml) win: nothing is translated then. The CA bundle
(PIP_CERT / cert) goes to SSL_CERT_FILE unless that is set. No index URL is hardcoded.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_UV_INDEX_VARS = ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX")


@cache
def uv_bin() -> str:
    """The uv binary shipped by the `uv` package (a dependency of pipeform)."""
    from uv import find_uv_bin

    return find_uv_bin()


def _pip_config_files() -> list[Path]:
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        return []
    xdg = [Path(p) / "pip" / "pip.conf" for p in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":") if p]
    home = Path.home()
    files = [*xdg, Path("/etc/pip.conf"), home / ".pip" / "pip.conf", home / ".config" / "pip" / "pip.conf"]
    if os.environ.get("VIRTUAL_ENV"):
        files.append(Path(os.environ["VIRTUAL_ENV"]) / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return files


def pip_settings() -> dict[str, list[str]]:
    """pip's effective index settings: later files and sections override earlier ones, and
    PIP_* variables override files (pip's order)."""
    out: dict[str, list[str]] = {}
    parser = configparser.RawConfigParser()
    for path in _pip_config_files():
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            continue
    for section in ("global", "install", "download"):
        if parser.has_section(section):
            for key, value in parser.items(section):
                out[key] = value.split()
    for key in ("index-url", "extra-index-url", "find-links", "trusted-host", "cert", "no-index"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            out[key] = env.split()
    return out


def _uv_has_own_config() -> bool:
    if any(os.environ.get(v) for v in _UV_INDEX_VARS):
        return True
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "uv" / "uv.toml"
    return config.exists() or Path("/etc/uv/uv.toml").exists()


def index_args() -> list[str]:
    """uv command-line options equivalent to this machine's pip index configuration."""
    if _uv_has_own_config():
        return []
    pip = pip_settings()
    args: list[str] = []
    if pip.get("no-index", ["false"])[0].lower() in ("1", "true", "yes", "on"):
        args.append("--no-index")
    for url in pip.get("index-url", [])[:1]:
        args += ["--index-url", url]
    for url in pip.get("extra-index-url", []):
        args += ["--extra-index-url", url]
    for link in pip.get("find-links", []):
        args += ["--find-links", link]
    for host in pip.get("trusted-host", []):
        args += ["--allow-insecure-host", host]
    if pip.get("extra-index-url") or pip.get("find-links"):
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def uv_env() -> dict[str, str]:
    env = dict(os.environ)
    cert = pip_settings().get("cert")
    if cert and not env.get("SSL_CERT_FILE"):
        env["SSL_CERT_FILE"] = cert[0]
    env.pop("VIRTUAL_ENV", None)  # uv targets the --python it is given, never the caller's venv
    return env


@dataclass(frozen=True)
class UvResult:
    code: int
    stdout: str
    stderr: str


def run_uv(*args: str, timeout: float = 600.0, index: bool = True) -> UvResult:
    """Run `uv ARGS` (with this machine's index options when `index`)."""
    cmd = [uv_bin(), *args, *(index_args() if index else [])]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=uv_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return UvResult(124, "", f"uv {args[0]} timed out after {timeout:.0f} s")
    return UvResult(proc.returncode, proc.stdout, proc.stderr)
