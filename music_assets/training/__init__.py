"""music_assets/training"""
