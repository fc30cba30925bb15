"""`python -m music_assets inspect FILE...`: see music_assets/ingest/inspect.py."""

import sys

from music_assets.ingest import inspect

COMMANDS = {"inspect": inspect.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m music_assets {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
