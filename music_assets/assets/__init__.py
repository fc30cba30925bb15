"""One module per pipeline stage; each is thin glue around music_assets.core."""
