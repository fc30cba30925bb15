"""music_assets/model"""
