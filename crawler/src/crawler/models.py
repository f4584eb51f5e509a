"""Source definitions, validated with pydantic. Stored in MongoDB `sources`."""

from __future__ import annotations

from typing import Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from crawler.patterns import compile_pattern

FetchMode = Literal["static", "browser", "auto"]
NAME_RE = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selector: str = Field(min_length=1, description="CSS selector, or XPath when type is xpath")
    type: Literal["css", "xpath"] = "css"
    fallbacks: list[str] = Field(
        default_factory=list, description="tried in order when selector finds nothing"
    )
    attr: str | None = Field(default=None, description="attribute to read instead of the text")
    required: bool = True
    many: bool = False

    @model_validator(mode="after")
    def _check_selectors(self) -> FieldSpec:
        from lxml import etree
        from lxml.cssselect import CSSSelector, SelectorError

        for sel in [self.selector, *self.fallbacks]:
            try:
                if self.type == "css":
                    CSSSelector(sel)
                else:
                    etree.XPath(sel)
            except (SelectorError, etree.XPathSyntaxError) as exc:
                raise ValueError(f"invalid {self.type} selector {sel!r}: {exc}") from exc
        return self


class LinkRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(
        default_factory=list, description="regexes; a link must match one (empty = same host)"
    )
    deny: list[str] = Field(default_factory=list)
    max_depth: int = Field(default=1, ge=0, le=50)
    max_pages: int = Field(default=100, ge=1, le=1_000_000)

    @field_validator("allow", "deny")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            compile_pattern(pattern)  # ValueError: pydantic names the field in its 422
        return v


class Politeness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    concurrency_per_domain: int = Field(default=2, ge=1, le=64)
    delay_seconds: float = Field(default=0.5, ge=0, le=600)
    obey_robots: bool = True
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    max_retries: int = Field(default=3, ge=0, le=10)
    user_agent: str = "acs-crawler/0.1 (+https://github.com/airflow-crawler-system)"


# The example of /openapi.json (and of the fuzz tier's examples phase, which
# needs one body the validators accept: random selectors and crons are not).
SOURCE_EXAMPLE = {
    "name": "example-docs",
    "start_urls": ["https://docs.example.com/"],
    "mode": "static",
    "fields": {"title": {"selector": "h1"}},
    "links": {"max_depth": 1, "max_pages": 10},
    "schedule": "@daily",
}


class SourceIn(BaseModel):
    """What an operator writes (API body or YAML entry)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SOURCE_EXAMPLE]})

    name: str = Field(
        pattern=NAME_RE, description="id of the source: lowercase letters, digits, - and _"
    )
    start_urls: list[HttpUrl] = Field(min_length=1)
    mode: FetchMode = "static"
    fields: dict[str, FieldSpec] = Field(min_length=1)
    links: LinkRules = Field(default_factory=LinkRules)
    schedule: str | None = Field(
        default="@daily", description="cron expression or @preset; null = manual only"
    )
    politeness: Politeness = Field(default_factory=Politeness)
    enabled: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v in ("@once", "@continuous"):
            return v
        if not croniter.is_valid(v):
            raise ValueError(f"invalid cron expression {v!r}; use e.g. '0 * * * *' or '@daily'")
        return v


class SourceState(BaseModel):
    """What the crawler learned about a source (self-healing memory)."""

    effective_mode: Literal["static", "browser"] | None = None
    delay_factor: float = 1.0
    concurrency_cap: int | None = None
    selectors: dict[str, str] = Field(
        default_factory=dict, description="field -> selector that last worked"
    )


class Source(SourceIn):
    model_config = ConfigDict(extra="ignore")
    state: SourceState = Field(default_factory=SourceState)

    def to_doc(self) -> dict:
        doc = self.model_dump(mode="json")
        doc["_id"] = self.name
        return doc

    @classmethod
    def from_doc(cls, doc: dict) -> Source:
        doc = {k: v for k, v in doc.items() if k not in ("_id", "created_at", "updated_at")}
        return cls.model_validate(doc)


class SourcePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_urls: list[HttpUrl] | None = None
    mode: FetchMode | None = None
    fields: dict[str, FieldSpec] | None = None
    links: LinkRules | None = None
    schedule: str | None = None
    politeness: Politeness | None = None
    enabled: bool | None = None

    _cron = field_validator("schedule")(SourceIn._cron.__func__)


def load_sources_yaml(text: str) -> list[SourceIn]:
    """Parse a YAML file with a top-level `sources:` list. Errors name the entry and field."""
    import yaml
    from pydantic import ValidationError

    data = yaml.safe_load(text) or {}
    items = data.get("sources", data) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("sources file: expected a list under 'sources:'")
    out: list[SourceIn] = []
    errors: list[str] = []
    for i, item in enumerate(items):
        try:
            out.append(SourceIn.model_validate(item))
        except ValidationError as exc:
            name = item.get("name", f"#{i}") if isinstance(item, dict) else f"#{i}"
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                errors.append(f"sources[{i}] ({name}).{loc}: {err['msg']}")
    if errors:
        raise ValueError("invalid sources file:\n" + "\n".join(errors))
    return out
