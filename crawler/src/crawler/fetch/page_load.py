"""What a browser page load waits for and what it skips, for both engines.

A crawl only extracts text from the DOM, so the bytes of images, fonts and
media are never read: a browser that fetches and decodes them spends the
machine's cores on nothing (``Settings.browser_block_resources``, on by
default). And a page is done when one of the selectors the extraction needs
is there, not at the next tick of a polling loop: the wait is one script
that returns as the DOM changes."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# Resource types Playwright aborts (its request.resource_type names).
BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})

_IMAGES = ["png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "ico", "bmp", "tif", "tiff"]
_FONTS = ["woff", "woff2", "ttf", "otf", "eot"]
_MEDIA = ["mp4", "webm", "ogg", "ogv", "mp3", "wav", "m4a", "m4v", "mov", "avi", "flac"]
_BLOCKED_EXTENSIONS = _IMAGES + _FONTS + _MEDIA
# Chrome DevTools' Network.setBlockedURLs patterns ("*" is a wildcard): the
# extension at the end of the path, with or without a query string.
BLOCKED_URL_PATTERNS = [f"*.{ext}" for ext in _BLOCKED_EXTENSIONS] + [
    f"*.{ext}?*" for ext in _BLOCKED_EXTENSIONS
]

# Chrome's own switch for images: holds even where DevTools is not reachable.
CHROME_BLOCK_PREFS = {"profile.managed_default_content_settings.images": 2}
CHROME_BLOCK_ARGS = ["--blink-settings=imagesEnabled=false"]

# True when one of the selectors matches (Playwright's wait_for_function
# re-evaluates it every animation frame).
FOUND_ANY_JS = """(selectors) => selectors.some((s) => {
  try { return document.querySelector(s) !== null; } catch (e) { return false; }
})"""

# Resolves as soon as one selector matches (checked at once, then on every
# DOM change), or with the last answer when `ms` ran out. A selector the
# browser cannot parse counts as not found: extraction reports it.
WAIT_FOR_ANY_JS = (
    """
const selectors = arguments[0], ms = arguments[1], done = arguments[arguments.length - 1];
const found = () => ("""
    + FOUND_ANY_JS
    + """)(selectors);
if (found()) { done(true); return; }
let timer = null;
const observer = new MutationObserver(() => {
  if (found()) { observer.disconnect(); clearTimeout(timer); done(true); }
});
observer.observe(document, {childList: true, subtree: true, attributes: true, characterData: true});
timer = setTimeout(() => { observer.disconnect(); done(found()); }, ms);
"""
)

# chromedriver's endpoint for a DevTools command, which a Grid forwards to
# the node like any other command of the session.
_CDP_COMMAND = "executeCdpCommand"
_CDP_ENDPOINT = ("POST", "/session/$sessionId/goog/cdp/execute")


def block_with_devtools(driver) -> bool:
    """Ask the session's Chrome to refuse fonts, media and images by URL.
    False (and a debug line) where the Grid or driver does not forward
    DevTools commands: images are still off through Chrome's preferences."""
    try:
        commands = driver.command_executor._commands
        commands.setdefault(_CDP_COMMAND, _CDP_ENDPOINT)
        driver.execute(_CDP_COMMAND, {"cmd": "Network.enable", "params": {}})
        driver.execute(
            _CDP_COMMAND,
            {"cmd": "Network.setBlockedURLs", "params": {"urls": BLOCKED_URL_PATTERNS}},
        )
    except Exception as exc:  # an older Grid: images stay blocked by preference
        log.debug("DevTools resource blocking unavailable: %s", exc)
        return False
    return True
