"""The dashboard: one page of plain HTML and JavaScript, served by metering at
``/dashboard``, that reads metering's JSON API (usage, rankings, the request log,
statements) and the account endpoints of ``services.metering.accounts_api`` with the
credential its user signs in with (kept in the tab's sessionStorage, sent as a bearer
token). Charts are Plotly's: ``plotly.min.js`` comes from the ``plotly`` package and is
served from here, never from a CDN.

Wiring: ``*dashboard.routes()`` among the metering app's route handlers.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import File, Redirect

from tollgate.errors import NotFound

STATIC = Path(__file__).with_name("static")
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}  # Litestar adds "; charset=utf-8"

# Scripts and styles only from this server; Plotly sets inline styles on its SVG; fetch()
# only to this server's API; no framing.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def plotly_js() -> Path:
    """plotly.min.js as shipped in the plotly wheel."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def static_files() -> dict[str, Path]:
    """Every file the page may load, by name: nothing else under /dashboard/static is served."""
    files = {path.name: path for path in STATIC.iterdir() if path.suffix in (".js", ".css")}
    files["plotly.min.js"] = plotly_js()
    return files


CONSOLE_MODULE_MARK = "// tollgate-console-module"  # the first line of a page module the console shell imports


def console_modules() -> list[str]:
    """The static scripts that register console pages (``console.js``), by name."""
    found = []
    for path in sorted(STATIC.glob("*.js")):
        with path.open(encoding="utf-8") as f:
            if f.readline().strip() == CONSOLE_MODULE_MARK:
                found.append(path.name)
    return found


def routes() -> list[HTTPRouteHandler]:
    files = static_files()
    index = STATIC / "index.html"
    modules = {"modules": console_modules()}

    @get("/dashboard/modules.json", include_in_schema=False)
    async def module_list() -> Response:
        return Response(modules, headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"})

    @get("/dashboard", include_in_schema=False)
    async def page() -> File:
        return File(index, filename=index.name, media_type=MEDIA_TYPES[".html"], headers=PAGE_HEADERS, content_disposition_type="inline")

    @get("/dashboard/static/{name:str}", include_in_schema=False)
    async def static(name: FromPath[str]) -> File:
        path = files.get(name)
        if path is None or not path.is_file():
            raise NotFound(f"no dashboard file {name!r}")
        cache = "public, max-age=86400" if name == "plotly.min.js" else "no-cache"
        return File(
            path,
            filename=name,
            media_type=MEDIA_TYPES[path.suffix],
            content_disposition_type="inline",
            headers={"cache-control": cache, "x-content-type-options": "nosniff"},
        )

    @get("/", include_in_schema=False)
    async def home() -> Response:
        return Redirect("/dashboard")

    return [page, static, module_list, home]
