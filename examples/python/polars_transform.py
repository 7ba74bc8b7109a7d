"""Extract, transform in polars, load: the sample base's orders counted and
their amounts summed per customer, between an Airtable read and a DuckDB
write, Arrow all the way.

    python examples/python/polars_transform.py [OUT.duckdb]

Serves the built-in sample base on 127.0.0.1 (no credentials, nothing leaves
the machine). Install the package first (docs/python.md).
"""

import sys

import polars as pl

import etl


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "polars_transform.duckdb"
    with etl.SampleAirtable(rate_limit=None) as sample:
        orders = pl.DataFrame(sample.extractor().read("Orders"))
    per_customer = (
        orders.filter(pl.col("Customer").list.len() > 0)
        .with_columns(pl.col("Customer").list.first().alias("customer"))
        .group_by("customer")
        .agg(pl.len().alias("orders"), pl.col("Amount").sum().alias("amount"))
        .sort(["amount", "customer"], descending=[True, False])
    )
    warehouse = etl.DuckDBWarehouse(out)
    rows = warehouse.write("orders_per_customer", per_customer, primary_key=["customer"])
    print(f"{rows} customers written to {out}; the busiest:")
    print(per_customer.head(3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
