"""Stubs of etl's native module; the package re-exports every name."""

import os
from types import TracebackType
from typing import Any, Literal, Mapping, Optional, Protocol, Sequence, Union

__version__: str

StrPath = Union[str, "os.PathLike[str]"]

class Error(Exception):
    """Every error etl raises. Attributes name what it is about, or are None."""

    table: Optional[str]
    column: Optional[str]
    row: Optional[int]
    file: Optional[str]
    line: Optional[int]
    warehouse: Optional[str]
    field: Optional[str]
    retryable: bool

class ConfigError(Error): ...
class SourceError(Error): ...

class LoadError(Error):
    report: Optional["Report"]
    """After a load where a table failed: every table's outcome; else None."""

class SchemaError(Error): ...
class DataError(Error): ...
class CancelledError(Error): ...
class TransformError(Error): ...

class RunError(Error):
    report: Optional["RunReport"]
    """After a run where a step failed: every step's outcome."""
class WorkflowValidationError(Error): ...

class ArrowStreamExportable(Protocol):
    """Any object exporting an Arrow C stream: a pyarrow Table or
    RecordBatchReader, a polars DataFrame, an etl Stream."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class Stream:
    """The batches of one table, read once, as an Arrow C stream."""

    @property
    def table(self) -> str: ...
    @property
    def columns(self) -> list[str]: ...
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...

class Extractor:
    """A source of tables; build one of its subclasses."""

    @property
    def kind(self) -> str: ...
    @property
    def source(self) -> str: ...
    def tables(self) -> list[str]: ...
    def read(self, table: str, *, batch_size: Optional[int] = None) -> Stream: ...

class Warehouse:
    """A destination of tables; build one of its subclasses."""

    @property
    def kind(self) -> str: ...
    def table_names(self) -> list[str]: ...
    def write(
        self,
        table: str,
        data: ArrowStreamExportable,
        *,
        mode: Literal["replace", "append", "merge"] = "replace",
        primary_key: Optional[Sequence[str]] = None,
    ) -> int: ...
    def read_table(self, table: str) -> Stream: ...

class AirtableExtractor(Extractor):
    def __init__(
        self,
        base: Optional[str] = None,
        *,
        token: Optional[str] = None,
        tables: Optional[Sequence[str]] = None,
        api_url: Optional[str] = None,
    ) -> None: ...

class HttpExtractor(Extractor):
    def __init__(self, config: Union[Mapping[str, Any], StrPath]) -> None:
        """`config`: the keys of an API's TOML file (JSON-like values), or its path."""

class FilesExtractor(Extractor):
    def __init__(self, path: StrPath) -> None: ...

class SQLiteExtractor(Extractor):
    def __init__(self, path: StrPath, *, tables: Optional[Sequence[str]] = None) -> None: ...

class DuckDBExtractor(Extractor):
    def __init__(self, path: StrPath, *, tables: Optional[Sequence[str]] = None) -> None: ...

class PostgresExtractor(Extractor):
    def __init__(
        self,
        url: str,
        *,
        schema: Optional[str] = None,
        tables: Optional[Sequence[str]] = None,
        queries: Optional[Mapping[str, str]] = None,
        incremental: Optional[Mapping[str, str]] = None,
        root_certificates: Optional[StrPath] = None,
        read_connections: Optional[int] = None,
    ) -> None: ...

class SQLiteWarehouse(Warehouse):
    def __init__(self, path: StrPath) -> None: ...

class DuckDBWarehouse(Warehouse):
    def __init__(self, path: StrPath, *, memory_limit: Optional[str] = None) -> None: ...

class PostgresWarehouse(Warehouse):
    def __init__(
        self,
        url: str,
        *,
        schema: Optional[str] = None,
        root_certificates: Optional[StrPath] = None,
    ) -> None: ...

class TableReport:
    @property
    def table(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def columns(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def status(self) -> str: ...
    @property
    def invalid_values(self) -> int: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def since(self) -> Optional[str]: ...
    @property
    def cursor(self) -> Optional[str]: ...
    @property
    def error(self) -> Optional[str]: ...

class Report:
    @property
    def tables(self) -> list[TableReport]: ...
    @property
    def total_rows(self) -> int: ...
    @property
    def succeeded(self) -> bool: ...
    def table(self, table: str) -> Optional[TableReport]: ...
    def __len__(self) -> int: ...

class ETLWorkflow:
    def __init__(self, extractor: Extractor, warehouse: Warehouse) -> None: ...
    def run(
        self,
        *,
        drop_tables: bool = False,
        tables: Optional[Sequence[str]] = None,
        mode: Optional[Literal["replace", "append", "merge"]] = None,
        primary_key: Optional[Sequence[str]] = None,
        batch_size: Optional[int] = None,
        raise_on_failure: bool = True,
    ) -> Report: ...

class SampleAirtable:
    def __init__(self, *, rate_limit: Optional[int] = 5) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def base_id(self) -> str: ...
    @property
    def token(self) -> str: ...
    def extractor(self) -> AirtableExtractor: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "SampleAirtable": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

ParamValue = Union[str, int, float, bool]

class StepReport:
    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def seconds(self) -> Optional[float]: ...
    @property
    def rows(self) -> Optional[int]: ...
    @property
    def error(self) -> Optional[str]: ...

class RunReport:
    @property
    def workflow(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def succeeded(self) -> bool: ...
    @property
    def steps(self) -> list[StepReport]: ...
    def step(self, name: str) -> Optional[StepReport]: ...

class Pipeline:
    """A pipeline file, its connectors opened with this build's registry."""

    @staticmethod
    def read(path: StrPath) -> "Pipeline": ...
    @staticmethod
    def parse(text: str, path: StrPath = "pipeline.toml") -> "Pipeline": ...
    @property
    def name(self) -> str: ...
    @property
    def steps(self) -> list[str]: ...
    def check(
        self, *, online: bool = False, params: Optional[Mapping[str, ParamValue]] = None
    ) -> list[str]: ...
    def plan(self) -> str: ...
    def run(
        self,
        *,
        params: Optional[Mapping[str, ParamValue]] = None,
        raise_on_failure: bool = True,
    ) -> RunReport: ...
