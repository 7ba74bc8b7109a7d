"""Syncs an Airtable base into DuckDB: Arkalos' one line, over etl's Rust runtime.

    python examples/python/sync_airtable.py               # the built-in sample base
    AIRTABLE_TOKEN=pat... AIRTABLE_BASE_ID=app... python examples/python/sync_airtable.py

Without AIRTABLE_TOKEN and AIRTABLE_BASE_ID it serves the sample shop base on
127.0.0.1 (a local server speaking Airtable's API) and syncs that: nothing
leaves the machine. Install the package first (docs/python.md).
"""

import os
import sys

import etl


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "sync_airtable_py.duckdb"
    sample = None
    if not (os.environ.get("AIRTABLE_TOKEN") and os.environ.get("AIRTABLE_BASE_ID")):
        sample = etl.SampleAirtable()
        os.environ.update(
            AIRTABLE_API_URL=sample.url,
            AIRTABLE_BASE_ID=sample.base_id,
            AIRTABLE_TOKEN=sample.token,
        )
        print(f"Syncing the built-in sample base {sample.base_id} served at {sample.url}.")
    try:
        report = etl.ETLWorkflow(etl.AirtableExtractor(), etl.DuckDBWarehouse(out)).run(drop_tables=True)
    except etl.LoadError as e:
        if e.report is not None:
            print(e.report)
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if sample is not None:
            sample.stop()
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
