import asyncio
import os

import httpx


def test_session_server_answers_on_the_expected_database(prefect_api, session_dir):
    r = httpx.get(f"{prefect_api}/health", timeout=5)
    assert r.status_code == 200 and r.json() is True
    pg_url = os.environ.get("PIPEFORM_TEST_DATABASE_URL")
    if pg_url:  # the server migrated its schema into this PostgreSQL database
        import asyncpg

        async def tables() -> int:
            conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
            try:
                return await conn.fetchval(
                    "select count(*) from information_schema.tables where table_name = 'deployment'"
                )
            finally:
                await conn.close()

        assert asyncio.run(tables()) == 1
    elif not os.environ.get("PIPEFORM_TEST_API_URL"):
        assert (session_dir / "server-home" / "prefect.db").exists()
