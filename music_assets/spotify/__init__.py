"""music_assets/spotify"""
