"""The production settings plus one bench-only route, for bench/load.py's server."""
