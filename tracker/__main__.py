from __future__ import annotations

from tracker.cli import program

if __name__ == "__main__":
    program()
