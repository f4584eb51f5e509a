"""Fetchers: static HTTP (aiohttp) and browsers (Selenium Grid, Playwright)."""

from dataclasses import dataclass, field


@dataclass
class Page:
    url: str
    final_url: str
    status: int
    text: str
    mode: str
    elapsed: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
