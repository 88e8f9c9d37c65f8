"""Case files and tables in (CSV, JSONL, Parquet, JSON) and outputs written whole."""
