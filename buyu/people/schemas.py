"""API schemas of people (Pydantic): teams and collectors."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Kind = Literal["agent", "field", "supervisor"]
BUCKETS = ("M0", "M1", "M2", "M3", "M4+")


def _buckets(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(BUCKETS))
    if unknown:
        raise ValueError(f"unknown bucket(s) {unknown}; expected some of {list(BUCKETS)}")
    return sorted(set(values), key=BUCKETS.index)


def _dedupe(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Languages = Annotated[list[LanguageTag], AfterValidator(_dedupe)]
Skills = Annotated[list[str], AfterValidator(_buckets)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Region = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TeamIn(_In):
    """A new team."""

    code: Code
    name: Name
    region: Region | None = None


class TeamOut(BaseModel):
    """A team as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    region: str | None
    active: bool


class CollectorIn(_In):
    """A new collector. Skills are the buckets they may work; a field collector needs a region."""

    code: Code
    name: Name
    team_id: int | None = None
    kind: Kind = "agent"
    languages: Languages = Field(default_factory=lambda: ["zh-CN"])
    region: Region | None = None
    skills: Skills = Field(default_factory=lambda: ["M1"])
    minutes_per_day: int = Field(default=420, ge=0, le=1440)
    visits_per_day: int = Field(default=0, ge=0, le=100)
    active: bool = True
    hired_on: date


class CollectorUpdate(_In):
    """A partial change to a collector; only the fields sent are changed (send null to clear region/team)."""

    name: Name | None = None
    team_id: int | None = None
    kind: Kind | None = None
    languages: Languages | None = None
    region: Region | None = None
    skills: Skills | None = None
    minutes_per_day: int | None = Field(default=None, ge=0, le=1440)
    visits_per_day: int | None = Field(default=None, ge=0, le=100)
    active: bool | None = None
    left_on: date | None = None


class CollectorOut(BaseModel):
    """A collector as stored; `id` is the stable key the optimizer uses."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    team_id: int | None
    kind: str
    languages: list[str]
    region: str | None
    skills: list[str]
    minutes_per_day: int
    visits_per_day: int
    active: bool
    hired_on: date
    left_on: date | None
