"""Pure logic of Music Adviser. Nothing here imports dagster or flask."""
