"""`mapo serve`'s API: answers equal `mapo ask --json`, and every bad request is a clear 4xx."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_decode import train_tiny_run
from typer.testing import CliRunner

from mapo_cli import Parser
from mapo_cli.data.limits import Limits
from mapo_cli.main import app as cli
from mapo_cli.serve import Settings, create_app

runner = CliRunner()
MEDALS = "Nation,Gold,Silver\nNorway,14,14\nGermany,14,10\nCanada,11,8\nSweden,7,6\n"
QUESTION = "which nation won the most silver?"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, prepared_demo: Path, demo_store: Path) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("serve-run"), prepared_demo, demo_store)


@pytest.fixture(scope="module")
def client(run: Path) -> TestClient:
    parser = Parser.load(run, limits=Limits(rows=20, columns=5, cell_characters=50,
                                            question_characters=100))
    return TestClient(create_app(parser, Settings(body_bytes=10_000)))


def test_health_model_and_the_schema(client: TestClient, run: Path) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}
    model = client.get("/api/model").json()
    assert model["runs"] == [str(run)] and model["grammar"] == "wtq"
    assert model["encoder"] == "lstm" and model["reranker"] is None
    schema = client.get("/openapi.json").json()
    assert set(schema["components"]["schemas"]["AskRequest"]["properties"]) == {
        "question", "csv", "rows", "beam", "top"}


def test_an_answer_equals_mapo_ask_json_for_csv_text_and_for_rows(
        client: TestClient, run: Path, tmp_path: Path) -> None:
    table = tmp_path / "medals.csv"
    table.write_text(MEDALS)
    asked = runner.invoke(cli, ["ask", str(run), str(table), QUESTION, "--json", "--top", "2"])
    assert asked.exit_code == 0, asked.output
    expected = json.loads(asked.stdout)
    by_csv = client.post("/api/ask", json={"question": QUESTION, "csv": MEDALS, "top": 2})
    rows = [line.split(",") for line in MEDALS.splitlines()]
    rows = [rows[0], *[[name, int(gold), int(silver)] for name, gold, silver in rows[1:]]]
    by_rows = client.post("/api/ask", json={"question": QUESTION, "rows": rows, "top": 2})
    assert by_csv.status_code == by_rows.status_code == 200
    assert by_csv.json() == by_rows.json() == expected
    step = expected["programs"][0]["steps"][-1]
    assert set(step) == {"name", "expression", "type", "value", "rows", "columns"}


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"question": "which?", "csv": "Nation,Gold\nNorway\n"}, 422,
     "the table:2: ragged table: this row has 1 cells, the header has 2"),
    ({"question": "which?", "csv": "Nation,Gold\n"}, 422, "a header row but no rows"),
    ({"question": "which?", "csv": "a,b\n\x00\x01,2\n"}, 422, "a NUL byte in a cell"),
    ({"question": "which?", "csv": "<html><body>a table</body></html>"}, 422,
     "a header row but no rows"),
    ({"question": "  ", "csv": MEDALS}, 422, "the question is empty"),
    ({"question": "x" * 101, "csv": MEDALS}, 413, "a question may have at most 100"),
    ({"question": "which?", "csv": "a\n" + "1\n" * 21}, 413, "a table may have at most 20"),
    ({"question": "which?", "csv": "a,b,c,d,e,f\n1,2,3,4,5,6\n"}, 413, "at most 5"),
    ({"question": "which?", "csv": "a\n" + "x" * 51 + "\n"}, 413, "a cell may have at most 50"),
    ({"question": 5, "csv": MEDALS}, 422, "question: Input should be a valid string"),
    ({"question": "which?", "rows": [["a"], [True]]}, 422,
     "rows.1.0: a cell must be a string or a number"),
    ({"question": "which?", "rows": "a,b"}, 422, "rows: Input should be a valid list"),
    ({"question": "which?", "csv": MEDALS, "beam": 0}, 422, "beam: Input should be greater"),
    ({"question": "which?", "csv": MEDALS, "beam": 21}, 422, "beam: Input should be less"),
    ({"question": "which?", "csv": MEDALS, "table": "x.csv"}, 422, "table: unknown field"),
    ({"question": "which?"}, 422, "give the table as either csv or rows"),
    ({"question": "which?", "csv": MEDALS, "rows": [["a"], ["1"]]}, 422, "either csv or rows"),
    ([1, 2], 422, "must be a JSON object"),
    ({"question": "which?", "csv": "a\n" + "1\n" * 6000}, 413,
     "larger than 10,000 bytes, the server's limit"),
])
def test_bad_requests_are_json_errors_that_say_what_is_wrong(
        client: TestClient, body: object, status: int, message: str) -> None:
    response = client.post("/api/ask", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_a_body_that_is_not_json_and_one_too_long_without_a_length(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"question=which",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"] == \
        "the request body is not valid JSON"

    def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(20):
            yield b"x" * 1000

    response = client.post("/api/ask", content=chunks(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_a_table_naming_a_file_is_read_as_text_never_as_the_file(
        run: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(Parser.load(run)))
    secret = tmp_path / "secret.csv"
    secret.write_text("Nation,Gold\nAtlantis,99\n")
    response = client.post("/api/ask", json={"question": "which nation?", "csv": str(secret)})
    assert response.status_code == 422 and "a header row but no rows" in response.json()["error"]
    assert "Atlantis" not in response.text


class _Waiting:
    """A parser whose answer waits until the test lets it go."""

    def __init__(self, parser: Parser) -> None:
        self.parser, self.go = parser, threading.Event()
        self.decoders, self.grammar = parser.decoders, parser.grammar
        self.sources, self.reranker_source = parser.sources, parser.reranker_source

    def table(self, grid):
        return self.parser.table(grid)

    def ask(self, *args, **kwargs):
        self.go.wait(60)
        return self.parser.ask(*args, **kwargs)


def test_a_request_past_the_time_limit_is_a_504(run: Path) -> None:
    waiting = _Waiting(Parser.load(run))
    client = TestClient(create_app(waiting, Settings(seconds=0.05)))  # type: ignore[arg-type]
    try:
        response = client.post("/api/ask", json={"question": QUESTION, "csv": MEDALS})
    finally:
        waiting.go.set()
    assert response.status_code == 504 and "mapo serve --timeout" in response.json()["error"]


def test_concurrent_requests_get_the_answers_of_serial_ones(client: TestClient) -> None:
    questions = [QUESTION, "which nation won the most gold?", "how many nations?",
                 "who won more gold than canada?"] * 4
    serial = [client.post("/api/ask", json={"question": q, "csv": MEDALS}).json()
              for q in questions]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: client.post(
            "/api/ask", json={"question": q, "csv": MEDALS}).json(), questions))
    assert together == serial


def test_the_page_and_its_files_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<title>mapo" in page.text
    for path in ("/page/page.js", "/page/page.css", "/page/examples/medals.csv"):
        assert client.get(path).status_code == 200, path
    assert "http" not in client.get("/").text.replace("http-equiv", "")  # nothing fetched
    assert client.get("/page/../api.py").status_code == 404


def test_concurrent_first_requests_to_the_shipped_model_share_one_encoder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an empty encoder cache, eight requests at once load the transformer once and
    get the answers they get one by one."""
    monkeypatch.setenv("MAPO_CACHE", str(tmp_path / "cache"))
    parser = Parser.load()
    client = TestClient(create_app(parser, Settings(concurrency=8)))
    tables = [MEDALS.replace("Norway", f"Norway {k}") for k in range(8)]  # 8 encoder inputs
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: client.post(
            "/api/ask", json={"question": QUESTION, "csv": t}).json(), tables))
    assert parser.decoders[0].contexts.computed == 8
    serial = [client.post("/api/ask", json={"question": QUESTION, "csv": t}).json()
              for t in tables]
    assert together == serial and all(reply["answer"] for reply in serial)


def test_mapo_serve_with_two_worker_processes_answers_and_stops_cleanly(
        run: Path, client: TestClient) -> None:
    import contextlib
    import signal
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mapo = str(Path(sys.executable).with_name("mapo"))
    server = subprocess.Popen([mapo, "serve", str(run), "--port", str(port), "--workers", "2",
                               "--max-rows", "20", "--max-columns", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # until it listens (or ends)
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=0.1)  # ... or it ends: the assert above says why
        body = {"question": QUESTION, "csv": MEDALS}
        answers = [httpx.post(url + "/api/ask", json=body, timeout=60) for _ in range(4)]
        assert all(a.status_code == 200 for a in answers)
        assert all(a.json() == client.post("/api/ask", json=body).json() for a in answers)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    assert "2 processes" in out and "Traceback" not in err


def test_a_fault_of_the_server_is_a_json_500_without_a_traceback(run: Path) -> None:
    class Broken(_Waiting):
        def ask(self, *args, **kwargs):
            raise ZeroDivisionError("a bug")

    broken = Broken(Parser.load(run))
    response = TestClient(create_app(broken)).post(  # type: ignore[arg-type]
        "/api/ask", json={"question": QUESTION, "csv": MEDALS})
    assert response.status_code == 500
    assert response.json() == {"error": "mapo could not answer this question "
                                        "(ZeroDivisionError); please report it with the "
                                        "table and the question"}
