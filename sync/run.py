"""Run a controller in the foreground until SIGTERM/SIGINT (the current cycle finishes
first; a second signal stops at once)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from pipeform.reconciler.api import ServerAPI

from .controller import Controller, Options, log
from .listen import Probes, alive_within, parse_listen, serve


async def run(opts: Options, state_root: Path, listen: str | None = None) -> int:
    async with ServerAPI.from_env() as api:
        controller = Controller(opts, api, state_root)
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def stop() -> None:
            if controller.stopping and task is not None:
                task.cancel()  # second signal: now
            controller.stopping = True
            controller.trigger()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        httpd = None
        if listen:
            host, port = parse_listen(listen)
            probes = Probes(
                trigger=lambda: loop.call_soon_threadsafe(controller.trigger),
                alive=alive_within(lambda: controller.heartbeat, 2 * opts.interval + 300),
                ready=lambda: controller.ready,
                metrics=controller.metrics.text,
            )
            httpd = serve(host, port, probes)
            log(f"listening on {host}:{httpd.server_address[1]}")
        log(
            f"syncing {opts.repo} (branch {opts.branch or 'default'}, path {opts.path or '.'}) every {opts.interval:g} s"
        )
        try:
            await controller.run()
        finally:
            if httpd:
                httpd.shutdown()
        log("stopped")
        return 0
