"""music_assets/ingest"""
