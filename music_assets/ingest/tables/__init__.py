"""Reading any tabular file a user brings into a frame of text: CSV (delimiter, encoding and a
note line before the header detected, or configured), gzip, Parquet, JSON and JSON Lines; a file,
a folder or a glob. What the columns mean is ingest/layouts' business, not this package's."""
