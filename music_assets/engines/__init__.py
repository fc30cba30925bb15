"""music_assets/engines"""
