"""Every format module has the same shape, checked when the registry loads."""

from __future__ import annotations

import types

import pytest

from forensics.ingest import formats
from forensics.ingest.formats.base import REQUIRED, check_shape


def test_every_registered_format_declares_the_whole_shape():
    assert formats.names() == [n for n in formats.PRIORITY if n in formats.FORMATS]
    assert set(formats.names()) >= {"jsonl", "logfmt", "access", "postgres", "redis", "syslog", "plain"}
    for name in formats.names():
        mod = formats.get(name)
        check_shape(mod)  # raises when something is missing
        assert mod.NAME == name and mod.DESCRIPTION.strip()


def test_continuation_lines_are_declared_by_the_format_modules():
    assert {n for n in formats.names() if formats.continued(n)} == {"plain", "postgres", "redis"}


def test_an_unknown_format_is_taken_to_have_continuation_lines():
    assert formats.continued("no-such-format") is True


def test_a_module_missing_a_required_name_is_refused_with_its_name():
    mod = types.ModuleType("fake_format")
    mod.NAME, mod.DESCRIPTION, mod.sniff, mod.parse = "fake", "fake logs", len, len
    with pytest.raises(TypeError, match="CONTINUATION_LINES"):
        check_shape(mod)
    mod.CONTINUATION_LINES = "yes"  # not a bool
    with pytest.raises(TypeError, match="CONTINUATION_LINES"):
        check_shape(mod)
    mod.CONTINUATION_LINES = False
    check_shape(mod)
    assert set(REQUIRED) == {"NAME", "DESCRIPTION", "CONTINUATION_LINES", "sniff", "parse"}
