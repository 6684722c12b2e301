"""The JavaScript the HTML report inlines: the vendored plotly.js basic bundle.

The file ships as package data (``forensics/report/vendor/``, see its
README.md for the npm package, version and checksums) and is read with
:mod:`importlib.resources`, so it works from a wheel or a zip as well as a
source tree.

>>> from forensics.report.assets import plotly_js
>>> plotly_js().startswith("/**")
True
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

PLOTLY_JS_PACKAGE = "plotly.js-basic-dist-min"
PLOTLY_JS_VERSION = "4.1.1"
#: sha256 of ``vendor/plotly-basic.min.js`` as unpacked from the npm tarball.
PLOTLY_JS_SHA256 = "99784e3abfb07b142a15e521a439e6d9addceadb3f79553fd24c72774f0649ba"
PLOTLY_JS_FILE = "plotly-basic.min.js"

#: Text that would end or confuse an inline ``<script>`` element.
_UNSAFE_IN_SCRIPT = re.compile(r"</script|<!--|<script", re.IGNORECASE)


def vendor_file(name: str) -> bytes:
    """Bytes of ``forensics/report/vendor/<name>`` (package data)."""
    return resources.files(__package__).joinpath("vendor", name).read_bytes()


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js bundle's source, safe to place inside ``<script>``.

    Raises
    ------
    RuntimeError
        The vendored file contains text that could end the script element
        (it never does as shipped: a guard against a careless update).
    """
    text = vendor_file(PLOTLY_JS_FILE).decode("utf-8")
    if _UNSAFE_IN_SCRIPT.search(text):
        raise RuntimeError(f"vendored {PLOTLY_JS_FILE} contains '</script', '<script' or '<!--'")
    return text
