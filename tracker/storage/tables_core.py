"""Core tables: places, the bitemporal status history, pending measures, imports, events.

`table=True` models skip validation, so input is validated before it reaches them (see
`history.Belief` and `loader`). Every datetime column is `UTCDateTime`: aware UTC in
Python, stored without offset (SQLite would silently drop one).

Other parts of the package (watching, alerts, the daemon) keep their tables in their own
modules and migrations.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ConfigDict
from sqlmodel import JSON, Column, Field, SQLModel

from tracker.storage.types import UTCDateTime


class Model(SQLModel):
    """The base of the table classes. Pydantic builds a class's validator and serializer
    on first use instead of at import (`defer_build`): table classes skip validation, so
    most commands never need them, and building eight of them was a fifth of the import
    time of this module, paid by every command."""

    model_config = ConfigDict(defer_build=True)  # type: ignore[assignment]


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Place(Model, table=True):
    __tablename__ = "place"

    code: str = Field(primary_key=True)  # TH, US-AL, US, or an OCD id for local places
    kind: str  # country, state, district, territory, county, city
    name: str
    parent_code: str | None = Field(default=None, foreign_key="place.code", index=True)
    iso_code: str | None = None
    alpha3: str | None = None
    abbr: str | None = None  # postal abbreviation of a US state or territory
    ocd_id: str | None = Field(default=None, unique=True)
    fips: str | None = None
    # Codes of every level above, innermost first: the chain in one query.
    ancestors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class PlaceKey(Model, table=True):
    """Every normalized way to name a place (codes, OCD id, names, abbreviations)."""

    __tablename__ = "place_key"

    key: str = Field(primary_key=True)
    place_code: str = Field(primary_key=True, foreign_key="place.code")
    how: str  # iso, alpha3, abbr, ocd, name


class StatusRecord(Model, table=True):
    """One version of one belief about a place and substance over a span of valid time.

    Valid time is `[valid_from, valid_to)`, None meaning unbounded; knowledge time is
    `[recorded_at, superseded_at)`. Rows are never edited except to set `superseded_at`
    once. `assertion_id` is the id of the row that first asserted this belief: pieces
    re-asserted when a later belief covers only part of it point back to it.
    """

    __tablename__ = "status_record"
    __table_args__ = (
        # Current rows are those with `superseded_at` NULL; a plain index that ends with it
        # serves them as well as a partial one did, and has no dialect-specific options,
        # whose checking imported the whole PostgreSQL dialect into every command (0.07 s
        # of `tracker status` on SQLite). Migration 0010.
        sa.Index("ix_status_current", "place_code", "substance", "superseded_at", "valid_from"),
        sa.Index("ix_status_known", "place_code", "substance", "recorded_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    place_code: str = Field(foreign_key="place.code")
    substance: str
    status: str
    min_age: int | None = None
    conditions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    instrument_type: str | None = None
    instrument_citation: str | None = None
    instrument_title: str | None = None
    instrument_url: str | None = None
    instrument_enacted: date | None = None
    instrument_enacted_precision: str | None = None
    valid_from: date | None = None
    valid_from_precision: str | None = None
    valid_to: date | None = None
    valid_to_precision: str | None = None
    expires: date | None = None
    expires_precision: str | None = None
    source_url: str | None = None
    source_document: str | None = None
    source_title: str | None = None
    source_quote: str | None = None
    source_date: date | None = None
    source_date_precision: str | None = None
    source_tier: str  # official, secondary, vendor, seed
    note: str | None = None
    verify: bool = False
    # When the fact was last verified (the newest material consulted), not when loaded.
    checked: date | None = None
    checked_precision: str | None = None
    # Where the rule applies when not in the whole place (vocab.SCOPES): `unincorporated`.
    scope: str | None = None
    origin: str  # cli, or the data file it came from (records/us-states.yaml, ...)
    assertion_id: int | None = Field(default=None, index=True)
    recorded_at: datetime = utc_column()
    superseded_at: datetime | None = utc_column(nullable=True)


class PendingMeasure(Model, table=True):
    """A bill or notice in progress: tracked beside statuses, versioned the same way."""

    __tablename__ = "pending_measure"

    id: int | None = Field(default=None, primary_key=True)
    place_code: str = Field(foreign_key="place.code", index=True)
    substance: str
    direction: str  # ban, restrict, regulate, repeal
    measure: str
    stage: str
    stage_date: date | None = None
    stage_date_precision: str | None = None
    published: date | None = None
    published_precision: str | None = None
    comments_close: date | None = None
    comments_close_precision: str | None = None
    source_url: str | None = None
    source_title: str | None = None
    source_tier: str
    checked: date | None = None
    checked_precision: str | None = None
    verify: bool = False
    note: str | None = None
    origin: str
    recorded_at: datetime = utc_column()
    superseded_at: datetime | None = utc_column(nullable=True)


class InternationalRecord(Model, table=True):
    """A statement about no place (the UN drug conventions): documentation shown beside
    the world view, never a status of a place. Versioned by knowledge time like pending
    measures; `record` holds the documented record shape (instrument, source, checked,
    verify, note)."""

    __tablename__ = "international_record"

    id: int | None = Field(default=None, primary_key=True)
    code: str  # UN
    substance: str
    status: str
    record: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin: str
    recorded_at: datetime = utc_column()
    superseded_at: datetime | None = utc_column(nullable=True)


class DataFile(Model, table=True):
    """The last loaded digest of each shipped data file, so an unchanged file is skipped."""

    __tablename__ = "data_file"

    path: str = Field(primary_key=True)
    sha256: str
    loaded_at: datetime = utc_column()


class ImportedItem(Model, table=True):
    """One item of a data file, by content digest: what makes loading idempotent."""

    __tablename__ = "imported_item"

    origin: str = Field(primary_key=True)
    item_hash: str = Field(primary_key=True)
    kind: str  # status, pending, international
    row_id: int | None = None  # the status_record or pending_measure it created
    loaded_at: datetime = utc_column()
    retracted_at: datetime | None = utc_column(nullable=True)


class Event(Model, table=True):
    """Something users may be told about. Written in the transaction of its cause."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)  # status_changed, effective, expiring, page_changed, ...
    place_code: str | None = Field(default=None, foreign_key="place.code", index=True)
    substance: str | None = None
    importance: str  # minor, relevant, major
    title: str
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    dedupe_key: str | None = Field(default=None, unique=True)
    occurred_at: datetime = utc_column(index=True)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model, for SQLAlchemy Core queries on hot paths."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


PLACE = table_of(Place)
PLACE_KEY = table_of(PlaceKey)
STATUS = table_of(StatusRecord)
PENDING = table_of(PendingMeasure)
INTERNATIONAL = table_of(InternationalRecord)
DATA_FILE = table_of(DataFile)
IMPORTED_ITEM = table_of(ImportedItem)
EVENT = table_of(Event)
