"""Load the landing folder into the warehouse's ``raw`` schema, with load metadata.

Each source of the contract (:mod:`cible.contract`) is a file ``<landing>/<name>.csv``
(``.csv.gz``, ``.parquet``, ``.jsonl``, ``.json`` lines) or a folder ``<landing>/<name>/`` of
such files (:mod:`~cible.loader.discovery`). A load replaces ``raw.<name>`` with all of the
source's rows, every contract column in contract order, then ``_source_file``,
``_source_line``, ``_loaded_at`` and ``_load_id``. Columns are text, except in a source made
only of Parquet files, where a typed contract column that every file stores with one type
holding it exactly keeps that type (:mod:`~cible.loader.parquet`). All sources of a load
are loaded in one transaction (:mod:`~cible.loader.core`), so a refused file, or a required
source empty or much shorter than at the last load, leaves the whole warehouse as it was.
How files are written (encoding, separators, dates, column names) is set or detected per
source (:mod:`~cible.loader.source_settings`, ``config/sources.yml``).

Data errors never abort a load: a malformed line lands in ``raw._load_rejects`` with its
line number and raw text, and every file read is logged in ``raw._load_files``
(:mod:`~cible.loader.reports`). What does abort it is a :class:`LoadError` naming the file and
the reason: a required source or column missing, an unreadable file.

All the work runs in DuckDB SQL, one module per format: :mod:`~cible.loader.csv` (with the
physical line of each row), :mod:`~cible.loader.jsonl`, :mod:`~cible.loader.parquet`.
"""

from cible.loader.cli import main
from cible.loader.common import LoadError
from cible.loader.core import load_landing
from cible.loader.discovery import SUFFIXES
from cible.loader.reports import FileReport, LoadReport, SourceReport

__all__ = [
    "SUFFIXES",
    "FileReport",
    "LoadError",
    "LoadReport",
    "SourceReport",
    "load_landing",
    "main",
]
