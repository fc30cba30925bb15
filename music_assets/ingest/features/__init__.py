"""music_assets/ingest/features"""
