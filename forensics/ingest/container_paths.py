"""The component of a container log, from where the runtime keeps the file.

Container runtimes name their log files after the container, so the path
tells which container (and so which component) wrote a file:

* kubelet, ``/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log``
  (rotated: ``0.log.20260314-110217``, ``.gz``): the container name;
* kubelet's symlinks, ``/var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log``:
  the container name;
* Docker's json-file driver, ``/var/lib/docker/containers/<id>/<id>-json.log``
  (rotated ``.1``, ``.2.gz``): the container's name from ``config.v2.json``
  beside the log when it can be read (the Kubernetes container name or the
  Compose service label first, then the container name), else the short
  (12 hex) id, as ``docker ps`` shows it.

Only the tail of the path is matched, so a copy of those folders anywhere
(``incident/pods/...``) is recognised too.  :func:`container_component`
returns ``None`` for any other path, and the driver falls back to
:func:`forensics.ingest.normalize.component_from_path`.  An event's own
component (a ``service`` field in a JSON payload, Docker's ``attrs.tag``)
still wins over the path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["container_component", "docker_config_name"]

_ROTATED = r"(?:\.[\w.\-]*)?"
#: ``<namespace>_<pod>_<uid>/<container>/<n>.log``; the uid is a UUID, or 32 hex
#: digits for static (mirror) pods.
POD_LOG = re.compile(
    r"(?:^|/)(?P<namespace>[a-z0-9][a-z0-9.\-]*)_(?P<pod>[a-z0-9][a-z0-9.\-]*)_(?P<uid>[0-9a-f\-]{32,36})"
    rf"/(?P<container>[a-z0-9][a-z0-9\-]*)/\d+\.log{_ROTATED}$"
)
#: ``<pod>_<namespace>_<container>-<64 hex>.log``.
CONTAINER_LOG = re.compile(
    r"(?:^|/)(?P<pod>[a-z0-9][a-z0-9.\-]*)_(?P<namespace>[a-z0-9][a-z0-9\-]*)_(?P<container>[a-z0-9][a-z0-9\-]*)"
    rf"-(?P<id>[0-9a-f]{{64}})\.log{_ROTATED}$"
)
#: ``<id>-json.log`` (Docker json-file), rotated ``.1`` or ``.1.gz``.
DOCKER_LOG = re.compile(r"(?:^|/)(?P<id>[0-9a-f]{64})-json\.log(?:\.\d+)?(?:\.gz)?$")

#: Labels in ``config.v2.json`` naming the component, best first.
NAME_LABELS = ("io.kubernetes.container.name", "com.docker.compose.service")
#: ``config.v2.json`` files larger than this are not read.
MAX_CONFIG_BYTES = 4 << 20


def container_component(path: str) -> str | None:
    """The container a runtime's log file belongs to, or ``None``.

    Parameters
    ----------
    path
        The file's path as given or found (``/`` or ``\\`` separators).

    Examples
    --------
    >>> pod = "shop_checkout-7d9f8b6c5-x2x9k_0f3c2a1e-8b7d-4c6e-9a5f-1e2d3c4b5a69"
    >>> container_component(f"/var/log/pods/{pod}/checkout/0.log")
    'checkout'
    >>> container_component("/var/log/containers/checkout-7d9f8b6c5-x2x9k_shop_istio-proxy-" + "ab" * 32 + ".log")
    'istio-proxy'
    >>> container_component("/tmp/nowhere/" + "ab" * 32 + "-json.log")
    'abababababab'
    >>> container_component("logs/app.log") is None
    True
    """
    norm = path.replace("\\", "/")
    for pattern in (POD_LOG, CONTAINER_LOG):
        m = pattern.search(norm)
        if m:
            return m["container"]
    m = DOCKER_LOG.search(norm)
    if m:
        return docker_config_name(Path(path).parent / "config.v2.json") or m["id"][:12]
    return None


def docker_config_name(config: Path) -> str | None:
    """The component named by a Docker ``config.v2.json``: a label of
    :data:`NAME_LABELS`, else the container name without its ``/``; ``None``
    when the file is missing, too large or unreadable."""
    try:
        if config.stat().st_size > MAX_CONFIG_BYTES:
            return None
        doc = json.loads(config.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    conf = doc.get("Config")
    labels = conf.get("Labels") if isinstance(conf, dict) else None
    if isinstance(labels, dict):
        for label in NAME_LABELS:
            value = labels.get(label)
            if isinstance(value, str) and value.strip():
                return value.strip()
    name = doc.get("Name")
    if isinstance(name, str) and name.strip("/ "):
        return name.strip("/ ")
    return None
