"""``forensics repro``: a suspect's example sessions as a HAR 1.2 file or a
pytest + httpx skeleton (:mod:`forensics.report.repro`, :mod:`.har`,
:mod:`.repro_pytest`, ``forensics/cli/repro_cmd.py``).

The golden files ``tests/golden/repro/sample_suspect1.har`` and
``sample_suspect1_replay.py.txt`` (``.txt``: the suite imports every ``.py``
for its doctests) are the outputs for suspect 1 of ``sample_logs/`` with the
tool version written as ``VERSION``.  They are compared, never written, by the
test run; after a deliberate change rewrite them with

    python tests/test_repro.py --regen

and read ``git diff tests/golden/repro`` by eye.

httpx is not a dependency of forensics (and not installed here): the
generated test file is run by pytest in a subprocess against a local
``http.server`` with a minimal stand-in ``httpx`` module (``Client(base_url,
headers, cookies, timeout, follow_redirects)``, ``request(method, url)``,
``status_code``) first on its path, besides being compiled and checked with
``ast``.
"""

from __future__ import annotations

import ast
import dataclasses
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import polars as pl
import pytest
from click.testing import CliRunner

from forensics import __version__
from forensics.cli import ForensicsGroup, repro_cmd
from forensics.errors import UsageError
from forensics.report.har import har_document, har_text
from forensics.report.repro import clean_text, repro_sessions, safe_target
from forensics.report.repro_pytest import pytest_text
from test_report_helpers import hostile_result, sample_result

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "repro"
GOLDEN_HAR = GOLDEN / "sample_suspect1.har"
GOLDEN_PYTEST = GOLDEN / "sample_suspect1_replay.py.txt"

#: Log content meant to break out of a Python literal or comment, to reach a
#: terminal, or to run in an HTML viewer.
HOSTILE_PATH = "/x\"\n import os; os.system('x')#\x1b[31m</script><script>alert(1)</script>\x9b2J\u202e"


def golden_text(text: str) -> str:
    """An output as its golden file holds it: the tool version as ``VERSION``."""
    return text.replace(f'"version": "{__version__}"', '"version": "VERSION"').replace(
        f"forensics {__version__} (", "forensics VERSION (")


def sample_outputs() -> tuple[str, str]:
    """(HAR, pytest file) for suspect 1 of sample_logs/, as the goldens hold them."""
    repro = repro_sessions(sample_result(), 1)
    return golden_text(har_text(repro)), golden_text(pytest_text(repro))


def with_events(result, change):
    """``result`` with its timeline's events replaced by ``change(events)``."""
    timeline = dataclasses.replace(result.timeline, events=change(result.timeline.events))
    return dataclasses.replace(result, timeline=timeline)


def first_step_rid(result) -> str:
    """The request id of step 1 of the first example session of suspect 1."""
    key = result.mining.suspects[0].example_sessions[0]
    steps = result.mining.steps.filter((pl.col("rank") == 1) & (pl.col("session_key") == key))
    return steps.sort("step")["request_id"][0]


def set_on(rid: str, component: str, **values) -> Callable:
    """An events change: set columns of the events of request ``rid`` logged by ``component``."""
    def change(ev: pl.DataFrame) -> pl.DataFrame:
        hit = (pl.col("request_id") == rid) & (pl.col("component") == component)
        return ev.with_columns(pl.when(hit).then(pl.lit(v)).otherwise(pl.col(k)).alias(k) for k, v in values.items())
    return change


def drop_nginx(rid: str) -> Callable:
    return lambda ev: ev.filter(~((pl.col("request_id") == rid) & (pl.col("component") == "nginx")))


def check_har(doc: dict) -> None:
    """Assert every field HAR 1.2 requires, with its type."""
    log = doc["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    pages = {p["id"] for p in log["pages"]}
    for p in log["pages"]:
        datetime.fromisoformat(p["startedDateTime"].replace("Z", "+00:00"))
        assert isinstance(p["title"], str) and isinstance(p["pageTimings"], dict)
    for e in log["entries"]:
        assert e["pageref"] in pages
        assert datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00")).tzinfo is not None
        req, res, t = e["request"], e["response"], e["timings"]
        assert isinstance(req["method"], str) and req["method"].isupper()
        url = urlsplit(req["url"])
        assert url.scheme in ("http", "https") and url.netloc and url.path.startswith("/")
        for part in (req, res):
            assert isinstance(part["httpVersion"], str)
            assert part["cookies"] == [] and part["headers"] == []
            assert part["headersSize"] == -1 and isinstance(part["bodySize"], int)
        assert all(set(q) == {"name", "value"} and all(isinstance(v, str) for v in q.values())
                   for q in req["queryString"])
        assert isinstance(res["status"], int) and isinstance(res["statusText"], str)
        assert isinstance(res["content"]["size"], int) and isinstance(res["content"]["mimeType"], str)
        assert isinstance(res["redirectURL"], str) and isinstance(e["cache"], dict)
        for name in ("send", "wait", "receive"):
            assert isinstance(t[name], (int, float)) and t[name] >= 0
        for name in ("blocked", "dns", "connect", "ssl"):
            assert t.get(name, -1) == -1 or t[name] >= 0
        assert e["time"] == sum(v for k, v in t.items() if k != "comment" and v != -1)


def assert_viewer_safe(text: str) -> None:
    """No escape sequence, control character, bidi override or HTML tag, raw or JSON-escaped."""
    for bad in ("\x1b", "\\u001b", "\x9b", "\\u009b", "\u202e", "\\u202e", "<", ">", "\\u003c"):
        assert bad not in text, bad
    assert not any(ord(c) < 32 and c != "\n" for c in text)


# ------------------------------------------------------------------ golden and structure


def test_har_for_sample_suspect_1_matches_the_golden_file():
    assert sample_outputs()[0] == GOLDEN_HAR.read_text(encoding="utf-8")


def test_pytest_file_for_sample_suspect_1_matches_the_golden_file():
    assert sample_outputs()[1] == GOLDEN_PYTEST.read_text(encoding="utf-8")


def test_har_has_every_field_har_1_2_requires():
    doc = har_document(repro_sessions(sample_result(), 1))
    check_har(doc)
    assert len(doc["log"]["entries"]) == 8 and [p["id"] for p in doc["log"]["pages"]] == ["session_1", "session_2"]


def test_har_says_what_logs_cannot_give_and_where_the_data_came_from():
    log = har_document(repro_sessions(sample_result(), 1))["log"]
    for word in ("bodies", "headers", "cookies", "sample_logs/", "suspect #1"):
        assert word in log["comment"]
    e = log["entries"][0]
    assert e["request"]["headersSize"] == e["request"]["bodySize"] == -1
    assert "not in the logs" in e["response"]["content"]["comment"]


def test_entries_follow_the_example_sessions_then_time_with_offsets_and_request_ids():
    result = sample_result()
    suspect = result.mining.suspects[0]
    entries = har_document(repro_sessions(result, 1))["log"]["entries"]
    sessions = [e["_forensics"]["session"] for e in entries]
    assert list(dict.fromkeys(sessions)) == list(suspect.example_sessions)
    for key in suspect.example_sessions:
        mine = [e for e in entries if e["_forensics"]["session"] == key]
        assert [e["_forensics"]["action"] for e in mine] == list(suspect.sequence)
        times = [e["startedDateTime"] for e in mine]
        assert times == sorted(times) and mine[0]["_forensics"]["offset_s"] == 0.0
        steps = result.mining.steps.filter((pl.col("rank") == 1) & (pl.col("session_key") == key)).sort("step")
        for e, rid, ts in zip(mine, steps["request_id"], steps["ts"]):
            assert f"request id {rid}" in e["comment"]
            offset = (ts - steps["ts"][0]).total_seconds()
            assert f"t+{offset:.3f}s" in e["comment"]


def test_urls_keep_the_real_ids_and_the_logged_query_under_the_base_url():
    result = sample_result()
    rid = first_step_rid(result)
    line = "POST /courses/840/quizzes/8/attempts?lang=de&page=2&empty= HTTP/1.1"
    changed = with_events(result, set_on(rid, "nginx", message=line))
    e = har_document(repro_sessions(changed, 1), base_url="https://staging.example:8443/app/")["log"]["entries"][0]
    assert e["request"]["url"] == "https://staging.example:8443/app/courses/840/quizzes/8/attempts?lang=de&page=2&empty="
    assert e["request"]["queryString"] == [{"name": "lang", "value": "de"}, {"name": "page", "value": "2"},
                                           {"name": "empty", "value": ""}]
    assert e["_forensics"]["origin"] == "access" and e["response"]["status"] == 200


def test_step_without_an_access_line_uses_the_method_and_url_the_app_logged():
    result = sample_result()
    rid = first_step_rid(result)
    attrs = json.dumps({"method": "post", "url": "http://app:8080/courses/840/quizzes/8/attempts?x=1"})
    changed = with_events(with_events(result, drop_nginx(rid)), set_on(rid, "web", attrs=attrs))
    st = repro_sessions(changed, 1).sessions[0].steps[0]
    assert (st.method, st.target, st.origin, st.status) == ("POST", "/courses/840/quizzes/8/attempts?x=1", "attrs", 200)
    assert st.source == "sample_logs/app/app.jsonl"


def test_a_route_action_is_replayed_with_masked_ids_and_said_so():
    result = sample_result()
    rid = first_step_rid(result)
    changed = with_events(result, set_on(rid, "nginx", message="-", attrs=None))  # no request line, action kept
    e = har_document(repro_sessions(changed, 1))["log"]["entries"][0]
    assert e["request"]["url"] == "http://localhost/courses/%7Bid%7D/quizzes/%7Bid%7D/attempts"
    assert "route only" in e["comment"] and e["_forensics"]["origin"] == "route"


def test_step_with_no_request_in_any_log_is_no_entry_but_noted_on_its_page():
    result = sample_result()
    rid = first_step_rid(result)
    repro = repro_sessions(with_events(result, drop_nginx(rid)), 1)
    st = repro.sessions[0].steps[0]
    assert st.method is None and st.origin is None and st.status == 200  # the app line's status
    log = har_document(repro)["log"]
    assert len(log["entries"]) == 7
    page = log["pages"][0]
    assert "3 of 4 steps" in page["comment"] and "not replayable" in page["comment"]
    assert page["_forensics"]["not_replayable"][0]["request_id"] == rid
    text = pytest_text(repro)
    assert "'method': None, 'path': None" in text
    compile(text, "replay.py", "exec")


def test_sessions_option_adds_other_sessions_and_bad_values_are_usage_errors():
    result = sample_result()
    assert [s.session_key for s in repro_sessions(result, 1, sessions=1).sessions] == \
        [result.mining.suspects[0].example_sessions[0]]
    assert len(repro_sessions(result, 1, sessions=50).sessions) == \
        result.mining.steps.filter(pl.col("rank") == 1)["session_key"].n_unique()
    with pytest.raises(UsageError, match="no suspect #9"):
        repro_sessions(result, 9)
    with pytest.raises(UsageError, match="--base-url"):
        har_text(repro_sessions(result, 1), base_url="http://x/?q=<script>")
    never = SimpleNamespace(missing=(SimpleNamespace(rank=2, step="checkout\x1b[2J"),))
    with pytest.raises(UsageError, match=r"^suspect #2 is a step the failing sessions never reached \(checkout\)"):
        repro_sessions(dataclasses.replace(result, labeled=never), 2)


# ------------------------------------------------------------------ hostile log content


def hostile_repro():
    """Suspect 1 with hostile text everywhere: action names, keys, users,
    sessions (``hostile_result``), a hostile request line on one step, a
    hostile app-logged URL (newline included) on another, a hostile request id."""
    result = hostile_result()
    key = result.mining.suspects[0].example_sessions[0]
    rids = result.mining.steps.filter((pl.col("rank") == 1) & (pl.col("session_key") == key)).sort("step")
    rid1, rid2 = rids["request_id"][0], rids["request_id"][1]
    line = "POST /c/\"+import+os;os.system('x')#\x1b[31m</script><script>alert(1)</script>?q=<b>&r=\x1b]0;t\x07 HTTP/1.1"
    attrs = json.dumps({"method": "GET", "path": HOSTILE_PATH + "?a=\n1"})
    result = with_events(result, set_on(rid1, "nginx", message=line))
    result = with_events(with_events(result, drop_nginx(rid2)), set_on(rid2, "web", attrs=attrs))
    hostile_rid = pl.when(pl.col("request_id") == rid1).then(pl.lit("rid\n# </script>\x1b[2J")).otherwise("request_id")
    result = with_events(result, lambda ev: ev.with_columns(hostile_rid))
    steps = result.mining.steps.with_columns(hostile_rid)
    result = dataclasses.replace(result, mining=dataclasses.replace(result.mining, steps=steps))
    return repro_sessions(result, 1)


def test_hostile_log_content_cannot_reach_a_terminal_or_html_viewer_through_the_har():
    text = har_text(hostile_repro())
    assert_viewer_safe(text)
    doc = json.loads(text)
    check_har(doc)
    for e in doc["log"]["entries"]:
        url = e["request"]["url"]
        assert url.isascii() and url.isprintable() and not any(c in url for c in " \"<>\\{}[]")
    urls = [e["request"]["url"] for e in doc["log"]["entries"]]
    assert "http://localhost/c/%22+import+os;os.system('x')%23%1B%5B31m%3C/script%3E" in urls[0]
    assert urls[1].startswith("http://localhost/x%22%0A%20import%20os;%20os.system('x')%23%1B%5B31m%3C/script%3E")


def test_hostile_log_content_leaves_the_pytest_file_valid_python_with_nothing_injected():
    text = pytest_text(hostile_repro())
    tree = ast.parse(text)
    compile(tree, "replay.py", "exec")
    assert "\x1b" not in text and "\u202e" not in text
    top = [type(n).__name__ for n in tree.body]
    assert top == ["Expr", "ImportFrom", "Import", "Import", "Import", "Import", "Assign", "AnnAssign",
                   "AnnAssign", "Assign", "Assign", "Assign", "FunctionDef", "FunctionDef", "FunctionDef"]
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert names == ["repro_base_url", "client", "test_replay"]
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not any("system" in c for c in calls)
    sessions = ast.literal_eval(next(n.value for n in tree.body if isinstance(n, ast.Assign)
                                     and n.targets[0].id == "SESSIONS"))
    for _, _, steps in sessions:
        for step in steps:
            assert all(not isinstance(v, str) or v == clean_text(v) for k, v in step.items() if k != "path")
            assert step["path"].isascii() and step["path"].isprintable()


def test_safe_target_percent_encodes_everything_a_url_must_not_carry_raw():
    assert safe_target(HOSTILE_PATH) == ("/x%22%0A%20import%20os;%20os.system('x')%23%1B%5B31m%3C/script%3E%3Cscript%3E"
                                         "alert(1)%3C/script%3E%C2%9B2J%E2%80%AE")
    assert safe_target("relative?q=%zz&ok=%2F") == "/relative?q=%25zz&ok=%2F"


# ------------------------------------------------------------------ the pytest file runs


class _Server(http.server.ThreadingHTTPServer):
    """Records (method, path) of every request; answers ``statuses[path]`` or 200."""

    def __init__(self, statuses: dict[str, int]):
        self.seen: list[tuple[str, str]] = []
        self.statuses = statuses
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path))
        self.send_response(self.server.statuses.get(self.path, 200))
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


STAND_IN_HTTPX = '''
"""The part of httpx the generated test uses, on http.client (tests only)."""
import http.client
from urllib.parse import urlsplit


class Response:
    def __init__(self, status_code):
        self.status_code = status_code


class Client:
    def __init__(self, base_url="", headers=None, cookies=None, timeout=None, follow_redirects=False):
        self.base, self.headers, self.timeout = base_url.rstrip("/"), dict(headers or {}), timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def request(self, method, url):
        u = urlsplit(self.base + url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
        conn.request(method, u.path + ("?" + u.query if u.query else ""), headers=self.headers)
        r = conn.getresponse()
        r.read()
        conn.close()
        return Response(r.status)
'''


#: What pytest-base-url adds: the --base-url option, a session-scoped base_url
#: fixture and an autouse fixture using it.
PLUGIN_CONFTEST = '''
import pytest


def pytest_addoption(parser):
    parser.addoption("--base-url", dest="base_url", default=None)


@pytest.fixture(scope="session")
def base_url(request):
    return request.config.getoption("base_url")


@pytest.fixture(scope="session", autouse=True)
def _verify_url(request, base_url):
    pass
'''


def run_generated(tmp_path: Path, text: str, statuses: dict[str, int], *, plugin: bool = False, **env: str):
    """Run the generated file with pytest against a local server; (process,
    requests seen).  With ``plugin``, as if pytest-base-url were installed,
    with the server's URL in ``--base-url`` (and a dead one in $REPRO_BASE_URL)."""
    (tmp_path / "stub").mkdir(exist_ok=True)
    if plugin:
        (tmp_path / "conftest.py").write_text(PLUGIN_CONFTEST, encoding="utf-8")
    (tmp_path / "stub" / "httpx.py").write_text(STAND_IN_HTTPX, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_replay_generated.py").write_text(text, encoding="utf-8")
    server = _Server(statuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "stub"),
               "REPRO_BASE_URL": "http://127.0.0.1:9/" if plugin else url, **env}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pytest.ini",
                               "test_replay_generated.py", *(["--base-url", url] if plugin else [])], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    return proc, server.seen


def test_generated_pytest_file_replays_each_session_in_order_against_a_server(tmp_path):
    repro = repro_sessions(sample_result(), 1)
    proc, seen = run_generated(tmp_path, pytest_text(repro), {})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    expected = [(st.method, st.target) for s in repro.sessions for st in s.steps]
    assert seen == expected  # session 1's requests in order, then session 2's


def test_generated_pytest_file_fails_listing_the_statuses_that_differ(tmp_path):
    repro = repro_sessions(sample_result(), 1)
    broken = repro.sessions[0].steps[0].target  # only session 1 sends it
    proc, seen = run_generated(tmp_path, pytest_text(repro), {broken: 500})
    assert proc.returncode == 1 and "1 failed, 1 passed" in proc.stdout
    assert f"step 1 POST {broken}: got 500, the logs saw 200" in proc.stdout
    assert len(seen) == 8  # the steps after the difference were sent too
    proc, _ = run_generated(tmp_path, pytest_text(repro), {broken: 500}, REPRO_CHECK_STATUS="0")
    assert proc.returncode == 0, proc.stdout


def test_generated_pytest_file_takes_the_base_url_of_pytest_base_url_when_installed(tmp_path):
    proc, seen = run_generated(tmp_path, pytest_text(repro_sessions(sample_result(), 1)), {}, plugin=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(seen) == 8


def test_generated_pytest_file_with_hostile_content_still_runs(tmp_path):
    proc, seen = run_generated(tmp_path, pytest_text(hostile_repro()), {})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(seen) == 8 and all(p.isascii() and p.isprintable() for _, p in seen)


# ------------------------------------------------------------------ the command


def invoke(args: list[str]):
    """``forensics repro ARGS`` through the group that maps errors to exit codes."""
    group = ForensicsGroup("forensics")
    group.add_command(repro_cmd.command)
    return CliRunner().invoke(group, ["repro", *args])


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("repro-cache"))


def test_command_writes_the_har_the_library_makes(tmp_path, monkeypatch, cache_dir):
    monkeypatch.chdir(REPO)
    out = tmp_path / "repro.har"
    res = invoke(["sample_logs/", "--suspect", "1", "-o", str(out), "--cache-dir", cache_dir])
    assert res.exit_code == 0, res.output
    assert golden_text(out.read_text(encoding="utf-8")) == GOLDEN_HAR.read_text(encoding="utf-8")
    assert res.stdout == ""
    assert res.stderr.startswith("repro: suspect #1, 2 session(s), 8 of 8 steps with a logged request")


def test_command_writes_to_stdout_and_picks_pytest_for_a_py_file(tmp_path, monkeypatch, cache_dir):
    monkeypatch.chdir(REPO)
    res = invoke(["sample_logs/", "--suspect", "1", "-o", "-", "--sessions", "1", "-q", "--cache-dir", cache_dir])
    assert res.exit_code == 0 and res.stderr == ""
    assert len(json.loads(res.stdout)["log"]["pages"]) == 1
    out = tmp_path / "test_outage.py"
    res = invoke(["sample_logs/", "--suspect", "1", "-o", str(out), "--base-url", "http://shop:8080",
                  "--cache-dir", cache_dir])
    assert res.exit_code == 0, res.output
    assert "BASE_URL = 'http://shop:8080'" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("args, message", [
    (["--suspect", "7"], "forensics: no suspect #7: suspects are numbered 1..1\n"),
    (["--suspect", "0"], "forensics: no suspect #0: suspects are numbered 1..1\n"),
    (["--suspect", "1", "--base-url", "localhost:8080"],
     "forensics: --base-url: 'localhost:8080' is not http(s)://host[:port][/path] (no query, fragment or user name)\n"),
], ids=["rank-too-high", "rank-zero", "bad-base-url"])
def test_bad_suspect_rank_or_base_url_is_exit_2_with_one_line(args, message, tmp_path, monkeypatch, cache_dir):
    monkeypatch.chdir(REPO)
    out = tmp_path / "x.har"
    res = invoke(["sample_logs/", *args, "-o", str(out), "-q", "--cache-dir", cache_dir])
    assert res.exit_code == 2 and res.stderr == message and res.stdout == ""
    assert not out.exists()


def test_command_has_help_naming_its_options():
    res = invoke(["--help"])
    assert res.exit_code == 0
    for opt in ("--suspect N", "-o, --output FILE", "--to [har|pytest]", "--sessions N", "--base-url", "HAR 1.2"):
        assert opt in res.stdout


# ------------------------------------------------------------------ golden files


def regenerate() -> None:
    """Rewrite the golden files from the current code (run by hand, never by the tests)."""
    har, py = sample_outputs()
    GOLDEN.mkdir(parents=True, exist_ok=True)
    GOLDEN_HAR.write_text(har, encoding="utf-8")
    GOLDEN_PYTEST.write_text(py, encoding="utf-8")
    print(f"wrote {GOLDEN_HAR.relative_to(REPO)} and {GOLDEN_PYTEST.relative_to(REPO)}; read the diff")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        sys.exit("usage: python tests/test_repro.py --regen")
    regenerate()
