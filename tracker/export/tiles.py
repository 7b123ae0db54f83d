"""Tile layouts for the status page: the US tile-grid map and the world view.

The US grid is the common tile-grid arrangement of the 50 states and DC (one square
each, roughly where the state lies). The world view places each country on a coarse
grid at the coordinates of its time-zone cities in the IANA time-zone table
(`zone.tab`, shipped with the system's tzdata or the `tzdata` package): the mean of
its zones (longitude averaged on the circle, so New Zealand's Chatham Islands do not
pull it to Africa), then the nearest free cell, larger countries (more zones) first.
Without that table, or for a country it does not list, a country goes to a plain
strip below the map instead: nothing is guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import cache
from pathlib import Path

# (row, column) of each tile, by postal abbreviation.
US_GRID: dict[str, tuple[int, int]] = {
    "AK": (0, 0),
    "ME": (0, 10),
    "VT": (1, 9),
    "NH": (1, 10),
    "WA": (2, 0),
    "ID": (2, 1),
    "MT": (2, 2),
    "ND": (2, 3),
    "MN": (2, 4),
    "IL": (2, 5),
    "WI": (2, 6),
    "MI": (2, 7),
    "NY": (2, 8),
    "RI": (2, 9),
    "MA": (2, 10),
    "OR": (3, 0),
    "NV": (3, 1),
    "WY": (3, 2),
    "SD": (3, 3),
    "IA": (3, 4),
    "IN": (3, 5),
    "OH": (3, 6),
    "PA": (3, 7),
    "NJ": (3, 8),
    "CT": (3, 9),
    "CA": (4, 0),
    "UT": (4, 1),
    "CO": (4, 2),
    "NE": (4, 3),
    "MO": (4, 4),
    "KY": (4, 5),
    "WV": (4, 6),
    "VA": (4, 7),
    "MD": (4, 8),
    "DE": (4, 9),
    "AZ": (5, 1),
    "NM": (5, 2),
    "KS": (5, 3),
    "AR": (5, 4),
    "TN": (5, 5),
    "NC": (5, 6),
    "SC": (5, 7),
    "DC": (5, 8),
    "OK": (6, 3),
    "LA": (6, 4),
    "MS": (6, 5),
    "AL": (6, 6),
    "GA": (6, 7),
    "HI": (7, 0),
    "TX": (7, 3),
    "FL": (7, 8),
}
US_ROWS, US_COLS = 8, 11

WORLD_COLS, WORLD_ROWS = 40, 18
_LAT_TOP, _LAT_BOTTOM = 78.0, -56.0  # rows cover the inhabited latitudes


def _zone_tables() -> Iterable[Path]:
    import zoneinfo

    for folder in zoneinfo.TZPATH:
        yield Path(folder) / "zone.tab"
    try:
        from importlib.resources import files

        yield Path(str(files("tzdata").joinpath("zoneinfo", "zone.tab")))
    except (ImportError, ModuleNotFoundError):
        return


def _degrees(text: str, width: int) -> float:
    sign = -1.0 if text[0] == "-" else 1.0
    digits = text[1:]
    deg, minutes = int(digits[:width]), int(digits[width : width + 2])
    seconds = int(digits[width + 2 : width + 4] or 0)
    return sign * (deg + minutes / 60 + seconds / 3600)


@cache
def zone_coordinates() -> dict[str, list[tuple[float, float]]]:
    """(latitude, longitude) of every zone of each ISO 3166-1 country; empty if no table."""
    for path in _zone_tables():
        if not path.is_file():
            continue
        out: dict[str, list[tuple[float, float]]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            code, coords = parts[0], parts[1]
            split = max(coords.rfind("+"), coords.rfind("-"))
            lat, lon = coords[:split], coords[split:]
            out.setdefault(code, []).append((_degrees(lat, 2), _degrees(lon, 3)))
        return out
    return {}


def _centre(points: list[tuple[float, float]]) -> tuple[float, float]:
    lat = sum(p[0] for p in points) / len(points)
    x = sum(math.cos(math.radians(p[1])) for p in points)
    y = sum(math.sin(math.radians(p[1])) for p in points)
    return lat, math.degrees(math.atan2(y, x))


@cache
def _offsets(radius: int = 8) -> list[tuple[int, int]]:
    cells = [(dr, dc) for dr in range(-radius, radius + 1) for dc in range(-radius, radius + 1)]
    # Nearest first; sideways before up or down, as maps are wider than tall.
    return sorted(cells, key=lambda d: (d[0] ** 2 * 1.5 + d[1] ** 2, abs(d[0]), d))


def world_layout(codes: Iterable[str]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """(row, column) of each country code on the world grid, and the codes not placed."""
    zones = zone_coordinates()
    wanted = sorted(set(codes), key=lambda c: (-len(zones.get(c, [])), c))
    placed: dict[str, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    unplaced: list[str] = []
    for code in wanted:
        points = zones.get(code)
        if not points:
            unplaced.append(code)
            continue
        lat, lon = _centre(points)
        col = min(WORLD_COLS - 1, max(0, int((lon + 180) / 360 * WORLD_COLS)))
        frac = (_LAT_TOP - lat) / (_LAT_TOP - _LAT_BOTTOM)
        row = min(WORLD_ROWS - 1, max(0, int(frac * WORLD_ROWS)))
        for dr, dc in _offsets():
            cell = (row + dr, col + dc)
            if 0 <= cell[0] < WORLD_ROWS and 0 <= cell[1] < WORLD_COLS and cell not in taken:
                taken.add(cell)
                placed[code] = cell
                break
        else:
            unplaced.append(code)
    return placed, sorted(unplaced)
