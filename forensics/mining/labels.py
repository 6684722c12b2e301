"""Label files for ``--failing``: which sessions the user says failed.

Read by :func:`read_failing`; mined by :mod:`.labeled`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from ..errors import DataError, InputError, UsageError

#: Label values that mean "failing" (case-insensitive, trimmed).
FAILING_VALUES = ("anomaly", "anomalous", "abnormal", "failed", "fail", "failure", "failing", "error", "err",
                  "1", "true", "yes", "bad")
#: A label column is the first (after the id) whose name contains one of these.
LABEL_NAMES = ("label", "status", "outcome", "result", "verdict", "class", "state", "anomal", "fail")


@dataclass(frozen=True)
class FailingLabels:
    """Failing session ids read from a labels file."""

    failing: frozenset[str]
    listed: int  # distinct ids in the file
    id_column: str
    label_column: str | None  # None: a plain list of failing ids
    failing_values: tuple[str, ...]
    path: str = ""

    def to_json(self) -> dict:
        return {"path": self.path, "listed": self.listed, "failing": len(self.failing),
                "id_column": self.id_column, "label_column": self.label_column,
                "failing_values": list(self.failing_values)}


def read_failing(path, *, id_column: str | None = None, label_column: str | None = None,
                 failing_values: Collection[str] | None = None) -> FailingLabels:
    """Read a CSV of session ids with a label column.

    Defaults read HDFS's ``anomaly_label.csv`` as it is: the id is the first
    column; the label is the first other column named like one of
    :data:`LABEL_NAMES`; values in :data:`FAILING_VALUES` mean failing
    (case-insensitive).  A one-column file is a plain list of failing ids.

    Raises
    ------
    InputError
        The file cannot be read.
    UsageError
        A named column does not exist, or no label column can be found.

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); f = os.path.join(d, "l.csv")
    >>> _ = open(f, "w").write("BlockId,Label\\nblk_1,Normal\\nblk_2,Anomaly\\nblk_3,anomaly\\n")
    >>> sorted(read_failing(f).failing)
    ['blk_2', 'blk_3']
    """
    try:
        frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
    except FileNotFoundError:
        raise InputError(f"--failing: no such file: {path}") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise InputError(f"--failing: cannot read {path}: {str(exc).splitlines()[0]}") from None
    if not frame.columns:
        raise DataError(f"--failing: {path} has no columns")
    cols = frame.columns
    lower = {c.lower().strip(): c for c in cols}

    def pick(name: str, option: str) -> str:
        if name in cols:
            return name
        if name.lower().strip() in lower:
            return lower[name.lower().strip()]
        raise UsageError(f"{option}: no column {name!r} in {path} (columns: {', '.join(cols)})")

    idc = pick(id_column, "--failing-id-column") if id_column else cols[0]
    if label_column:
        lab = pick(label_column, "--failing-label-column")
    else:
        others = [c for c in cols if c != idc]
        named = [c for c in others if any(k in c.lower() for k in LABEL_NAMES)]
        if not others:
            lab = None
        elif named:
            lab = named[0]
        else:
            raise UsageError(f"--failing: no label column in {path} (columns: {', '.join(cols)}); "
                             "name it with --failing-label-column")
    values = tuple(v.strip().lower() for v in (failing_values or FAILING_VALUES))
    ids = pl.col(idc).str.strip_chars()
    frame = frame.filter(ids.is_not_null() & (ids != ""))
    is_fail = pl.lit(True) if lab is None else pl.col(lab).str.strip_chars().str.to_lowercase().is_in(values)
    failing = frame.filter(is_fail.fill_null(False)).select(ids).to_series()
    return FailingLabels(failing=frozenset(failing.to_list()), listed=frame.select(ids).n_unique(),
                         id_column=idc, label_column=lab, failing_values=values, path=str(path))
