"""etl: declarative ETL over a Rust runtime.

One line loads every table of a source into a warehouse, each table
atomically, with the GIL released while data moves::

    import etl
    etl.ETLWorkflow(etl.AirtableExtractor(), etl.DuckDBWarehouse("dwh.duckdb")).run(drop_tables=True)

Extractors and warehouses are the kinds of etl's connector registry: the
same ones pipeline files and the `etl` binary use. See docs/python.md.
"""

from etl._etl import (
    AirtableExtractor,
    CancelledError,
    ConfigError,
    DataError,
    DuckDBExtractor,
    DuckDBWarehouse,
    Error,
    ETLWorkflow,
    Extractor,
    FilesExtractor,
    HttpExtractor,
    LoadError,
    PostgresExtractor,
    Pipeline,
    PostgresWarehouse,
    Report,
    RunError,
    RunReport,
    SampleAirtable,
    SchemaError,
    SourceError,
    SQLiteExtractor,
    SQLiteWarehouse,
    StepReport,
    Stream,
    TableReport,
    TransformError,
    Warehouse,
    WorkflowValidationError,
    __version__,
)

__all__ = [
    "AirtableExtractor",
    "CancelledError",
    "ConfigError",
    "DataError",
    "DuckDBExtractor",
    "DuckDBWarehouse",
    "Error",
    "ETLWorkflow",
    "Extractor",
    "FilesExtractor",
    "HttpExtractor",
    "LoadError",
    "PostgresExtractor",
    "Pipeline",
    "PostgresWarehouse",
    "Report",
    "RunError",
    "RunReport",
    "SampleAirtable",
    "SchemaError",
    "SourceError",
    "SQLiteExtractor",
    "SQLiteWarehouse",
    "StepReport",
    "Stream",
    "TableReport",
    "TransformError",
    "Warehouse",
    "WorkflowValidationError",
    "__version__",
]
