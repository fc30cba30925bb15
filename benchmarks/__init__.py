"""Scripts that print figures (speed, memory, quality); run them with `python -m benchmarks.<name>`."""
