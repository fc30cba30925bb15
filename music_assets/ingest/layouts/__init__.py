"""What a file's columns mean: column maps (ours <- theirs, how to parse, constants, labels from the
file name, the file's roles: charts, catalog, artists), the built-in maps of the public layouts and
their detection from the header, and applying a map to a table read by ingest/tables."""
