"""Where chart rows and track features come from: demo (default), local files, Spotify."""
