"""Tables written chunk by chunk (scored cases, a case book's export): CSV (formula-looking
text defused), JSON Lines and Parquet, one writer per format with the same columns in the same
order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


class TableWriter:
    """Writes scored chunks of one fixed set of columns to ``path``, chunk after chunk.

    ``text_columns`` are the input's columns (kept as text); ``keep_formulas`` (CSV only)
    keeps text cells that start like a spreadsheet formula as they are; ``metadata`` (the
    notice and the model identity) goes into a Parquet file's schema and, for the notice,
    into every JSON Lines row (CSV has no place for it).
    """

    def __init__(
        self,
        path: Path,
        columns: list[str],
        text_columns: list[str],
        *,
        keep_formulas: bool = False,
        metadata: dict[str, str] | None = None,
    ):
        self.path, self.columns, self.text_columns = path, columns, text_columns
        self.keep_formulas = keep_formulas
        self.metadata = dict(metadata or {})

    def write(self, frame: pd.DataFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs such a cell


def defuse_formulas(values: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+1+1``,
    ``@SUM``), with a leading apostrophe so they show as text; other cells as they are."""

    def defuse(cell: object) -> object:
        return f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_START) else cell

    if isinstance(values.dtype, pd.CategoricalDtype):  # each distinct value once
        categories = list(values.cat.categories)
        fixed = [defuse(c) for c in categories]
        return values.cat.rename_categories(fixed) if fixed != categories else values
    text = values.dtype == object or isinstance(values.dtype, pd.StringDtype)
    return values.map(defuse) if text else values


class CsvWriter(TableWriter):
    def __init__(self, path: Path, columns: list[str], text_columns: list[str], **options):
        super().__init__(path, columns, text_columns, **options)
        self.handle = path.open("w", encoding="utf-8", newline="")
        pd.DataFrame(columns=columns).to_csv(self.handle, index=False)

    def write(self, frame: pd.DataFrame) -> None:
        if "red_flags" in frame:  # a list per row: one cell, joined
            frame = frame.assign(red_flags=[";".join(f) for f in frame["red_flags"]])
        if not self.keep_formulas:
            text = [*self.text_columns, "error"]
            frame = frame.assign(**{c: defuse_formulas(frame[c]) for c in text if c in frame})
        frame.to_csv(self.handle, index=False, header=False)

    def close(self) -> None:
        self.handle.close()  # closing twice does nothing


class JsonlWriter(TableWriter):
    """One JSON object per row; each carries the ``notice`` of ``metadata`` when given (a JSON
    file says what its numbers are, whatever line of it is read)."""

    def __init__(self, path: Path, columns: list[str], text_columns: list[str], **options):
        super().__init__(path, columns, text_columns, **options)
        self.handle = path.open("w", encoding="utf-8")

    def write(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        if "notice" in self.metadata:
            frame = frame.assign(notice=self.metadata["notice"])
        text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
        self.handle.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self.handle.close()  # closing twice does nothing


class ParquetWriter(TableWriter):
    def __init__(self, path: Path, columns: list[str], text_columns: list[str], **options):
        super().__init__(path, columns, text_columns, **options)
        kinds = {
            "red_flags": pa.list_(pa.string()),
            "conflict_answers": pa.string(),
            "error": pa.string(),
        }
        self.schema = pa.schema(
            [
                (c, pa.string() if c in text_columns else kinds.get(c, pa.float64()))
                for c in columns
            ],
            metadata={f"crampnet.{k}": v for k, v in self.metadata.items()},
        )
        # dictionary-encode the text only: trying it on a million distinct probabilities
        # costs four times the rest of the writing and saves nothing
        text = [c for c in columns if self.schema.field(c).type == pa.string()]
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=text)

    def write(self, frame: pd.DataFrame) -> None:
        arrays = []
        for field in self.schema:
            values = frame[field.name]
            if field.name == "red_flags":
                arrays.append(pa.array(values.tolist(), type=field.type))
            elif field.type == pa.string():
                arrays.append(pa.Array.from_pandas(values).cast(pa.string()))
            else:
                arrays.append(pa.Array.from_pandas(values, type=field.type))
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        if self.writer.is_open:
            self.writer.close()


WRITERS = {"csv": CsvWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}
