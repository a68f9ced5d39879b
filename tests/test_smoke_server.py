import httpx


def test_session_server_answers(prefect_api):
    r = httpx.get(f"{prefect_api}/health", timeout=5)
    assert r.status_code == 200
    assert r.json() is True
