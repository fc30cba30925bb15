"""music_assets/ingest/charts"""
