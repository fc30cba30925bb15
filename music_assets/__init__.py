"""Music Adviser: Spotify chart data -> content-based song recommendations."""
