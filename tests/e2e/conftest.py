from tests.support.browser import browser, web

__all__ = ["browser", "web"]
