"""Spark side of the portability test, run in its own process (one JVM holds the metastore).

    python tests/spark_support.py register SPARK_DIR PARQUET_ROOT   raw tables over Parquet
    python tests/spark_support.py dump SPARK_DIR OUT_DIR            row counts + features

The session uses the same warehouse folder and metastore as the `spark_local` dbt target.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pyspark.sql import SparkSession

MODEL_SCHEMAS = ("staging", "intermediate", "marts", "quality")


def session(spark_dir: Path) -> SparkSession:
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.sql.warehouse.dir", str(spark_dir / "warehouse"))
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={spark_dir / 'metastore_db'};create=true",
        )
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.extraJavaOptions", f"-Dderby.stream.error.file={spark_dir}/derby.log")
        .enableHiveSupport()
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def register(spark: SparkSession, parquet_root: Path) -> None:
    """One raw table per folder `<parquet_root>/<table>/`, read in place."""
    spark.sql("create database if not exists raw")
    for folder in sorted(parquet_root.iterdir()):
        spark.sql(f"create table raw.`{folder.name}` using parquet location '{folder}'")


def dump(spark: SparkSession, out_dir: Path) -> None:
    counts = {}
    for schema in MODEL_SCHEMAS:
        for row in spark.sql(f"show tables in {schema}").collect():
            name = row["tableName"]
            counts[f"{schema}.{name}"] = spark.table(f"{schema}.`{name}`").count()
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=1))
    spark.table("marts.fct_customer_features").toPandas().to_parquet(
        out_dir / "fct_customer_features.parquet"
    )


if __name__ == "__main__":
    command, spark_dir, folder = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    spark = session(spark_dir)
    {"register": register, "dump": dump}[command](spark, folder)
    spark.stop()
