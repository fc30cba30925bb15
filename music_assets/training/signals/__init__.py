"""What the charts and the catalog say about each track beside its sound: chart co-listening
profiles (chart_profile.py), genre vectors (genre_vectors.py), and their blend (blend.py)."""
