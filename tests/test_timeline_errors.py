"""Which events are errors, client errors, and how errors are grouped by kind."""

from __future__ import annotations

import polars as pl
from timeline_fixtures import at, events

from forensics.timeline.errors import mark_errors


def _flags(client_errors=False, **cols):
    n = len(next(iter(cols.values())))
    cols.setdefault("ts", [at("12:00:00")] * n)
    cols.setdefault("component", ["app"] * n)
    return mark_errors(events(**cols), client_errors=client_errors)


def test_error_and_fatal_levels_are_errors_and_warn_is_not():
    df = _flags(level=["error", "fatal", "warn", "info", None])
    assert df["is_error"].to_list() == [True, True, False, False, False]


def test_http_5xx_is_an_error_and_4xx_only_a_client_error():
    df = _flags(status=[500, 503, 404, 200], level=["error", "error", "warn", "info"], format=["access"] * 4)
    assert df["is_error"].to_list() == [True, True, False, False]
    assert df["is_client_error"].to_list() == [False, False, True, False]


def test_client_errors_count_as_errors_when_asked():
    df = _flags(client_errors=True, status=[404, 200], format=["access"] * 2)
    assert df["is_error"].to_list() == [True, False]


def test_error_level_on_a_4xx_row_is_not_a_server_error():
    # Access-log parsers derive the level from the status; a 404 is the client's fault.
    df = _flags(status=[404], level=["error"], format=["access"])
    assert df["is_error"].to_list() == [False]


def test_outcome_fields_in_attrs_mark_errors():
    attrs = ['{"result": "FAILED"}', '{"outcome": "timeout"}', '{"status": "exception"}', '{"result": "ok"}',
             '{"note": "failed"}', "not json", None]
    df = _flags(attrs=attrs, level=["info"] * 7)
    assert df["is_error"].to_list() == [True, True, True, False, False, False, False]


def test_capitalized_outcome_fields_of_siem_exports_mark_errors_and_survive_the_scan_projection():
    from forensics.timeline import analysis_columns

    attrs = ['{"Result": "Failure"}', '{"Status": "failed"}', '{"Result": "Success"}', '{"RESULT": "Failure"}']
    df = _flags(attrs=attrs, level=[None] * 4)
    assert df["is_error"].to_list() == [True, True, False, False]  # lower case or capitalized, not any case
    kept = df.select(analysis_columns()).get_column("attrs").to_list()
    assert kept[:3] == attrs[:3]  # the scan keeps the attrs the timeline reads


def test_exceptions_and_tracebacks_in_messages_mark_errors():
    msgs = [
        "Traceback (most recent call last):\n  File \"x.py\", line 1",
        "java.lang.NullPointerException: null\n\tat com.x.Y.z(Y.java:10)",
        "ValueError: bad course id",
        "retrying after ConnectionResetException",
        "no error here",
        "Error handling is fine",
    ]
    df = _flags(message=msgs, level=["info"] * len(msgs))
    assert df["is_error"].to_list() == [True, True, True, True, False, False]


def test_identical_errors_with_different_ids_share_one_kind():
    msgs = [
        "timeout after 30 ms for user 42 at 10.0.0.7",
        "timeout after 5001 ms for user 7 at 10.0.0.9",
        "KeyError: 'course:17:toc' in /srv/app/cache.py",
        "KeyError: 'course:99:toc' in /srv/app/cache.py",
        "session 123e4567-e89b-12d3-a456-426614174000 of bob@example.com expired 0xdeadbeef",
        "session 00000000-e89b-12d3-a456-426614174999 of eve@example.org expired 0xfeed",
    ]
    df = _flags(message=msgs, level=["error"] * len(msgs), component=["db", "db", "cache", "cache", "auth", "auth"])
    kinds = df["error_kind"].to_list()
    assert kinds[0] == kinds[1] and kinds[2] == kinds[3] and kinds[4] == kinds[5]
    assert len(set(kinds)) == 3
    assert all(k.split(":")[0] in ("db", "cache", "auth") for k in kinds)
    assert not any(ch.isdigit() for k in kinds for ch in k)


def test_kind_uses_first_line_only_and_component():
    df = _flags(message=["boom\nstack line 1", "boom\nstack line 2"], level=["error"] * 2, component=["a", "b"])
    assert df["error_kind"].to_list() == ["a: boom", "b: boom"]


def test_access_errors_are_grouped_by_status_and_route():
    # 502 (bad gateway) and 504 (gateway timeout) are different failures.
    df = _flags(status=[504, 504, 502, 502], action=["GET /c/{id}", "GET /c/{id}", "GET /c/{id}", "POST /login"],
                message=["GET /c/1 HTTP/1.1", "GET /c/2 HTTP/1.1", "GET /c/3 HTTP/1.1", "POST /login HTTP/1.1"],
                format=["access"] * 4, component=["web"] * 4)
    assert df["error_kind"].to_list() == ["web: HTTP 504 GET /c/{id}"] * 2 + ["web: HTTP 502 GET /c/{id}",
                                                                           "web: HTTP 502 POST /login"]


def test_non_errors_have_no_kind():
    df = _flags(level=["info"], message=["all good"])
    assert df["error_kind"].to_list() == [None]
    assert df.schema["is_error"] == pl.Boolean
