"""The studio's HTTP API and page (FastAPI, which Prefect already brings; served by uvicorn).

Contract (scripts and tests rely on it):

    GET  /api/samples                 -> [{id, status, score}] in annotation order
    GET  /api/samples/<id>/image      -> PNG
    GET  /api/annotations/<id>        -> PNG (palette), or 404 if none yet
    PUT  /api/annotations/<id>        <- class-index or palette PNG -> 200 {saved, version, ...};
                                         422 {detail} for a wrong size, unknown ids, not a PNG

and for the page: /api/classes, /api/annotations/<id>/version, /api/samples/<id>/prelabel,
/api/samples/<id>/status, /api/retrain. An id that is not a sample answers 404. With a token, every
request needs it (``Authorization: Bearer``, the ``studio_token`` cookie, or ``?token=`` once, which
sets the cookie); without it: 401. Bodies over ``max_body`` bytes answer 413.

Two tabs on one sample: the later save wins. A PUT names the version it started from (``If-Match``);
if another save landed in between, the answer says ``replaced_other_save``, and the tab that saved
first learns it from /version (which the page polls) and warns its user.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.staticfiles import StaticFiles

from datasetgan.annotate.errors import MaskRejected, StudioError, UnknownSample
from datasetgan.annotate.folder import encode_index, encode_mask
from datasetgan.annotate.studio import Studio

MAX_BODY = 8 * 1024 * 1024
TOKEN_COOKIE = "studio_token"
STATIC = files("datasetgan.annotate") / "static"


class _Guard(BaseHTTPMiddleware):
    """Token check (when one is set) and the request size limit."""

    def __init__(self, app: Any, token: str | None, max_body: int) -> None:
        super().__init__(app)
        self.token, self.max_body = token, max_body

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return JSONResponse({"detail": f"body over {self.max_body} bytes"}, status_code=413)
        if self.token is None:
            return await call_next(request)
        given = request.query_params.get("token")
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        cookie = request.cookies.get(TOKEN_COOKIE, "")
        if not any(secrets.compare_digest(t, self.token) for t in (given or "", bearer, cookie)):
            return JSONResponse({"detail": "access token missing or wrong"}, status_code=401)
        response = await call_next(request)
        if given:
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        return response


def create_app(studio: Studio, *, token: str | None = None, max_body: int = MAX_BODY) -> FastAPI:
    """The studio's app over ``studio`` (see the module docstring for the routes)."""
    app = FastAPI(title="datasetgan annotation studio", docs_url=None, redoc_url=None)
    app.add_middleware(_Guard, token=token, max_body=max_body)

    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, exc: StudioError) -> JSONResponse:
        code = (
            404 if isinstance(exc, UnknownSample) else 422 if isinstance(exc, MaskRejected) else 409
        )
        return JSONResponse({"detail": str(exc)}, status_code=code)

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/api/classes")
    def classes() -> dict[str, Any]:
        f = studio.folder
        return {"names": list(f.class_names), "palette": [list(c) for c in f.palette],
                "size": list(f.size), "interpreter": studio.interpreter is not None}  # fmt: skip

    @app.get("/api/samples")
    def samples() -> list[dict[str, Any]]:
        return studio.samples()

    @app.get("/api/samples/{sample_id}/image")
    def image(sample_id: int) -> FileResponse:
        return FileResponse(studio.folder.image_path(sample_id), media_type="image/png")

    @app.get("/api/samples/{sample_id}/prelabel")
    def prelabel(sample_id: int, as_: str = Query("palette", alias="as")) -> Response:
        labels = studio.prelabel(sample_id)
        png = encode_index(labels) if as_ == "index" else encode_mask(labels, studio.folder.palette)
        return Response(png, media_type="image/png")

    @app.post("/api/samples/{sample_id}/status")
    async def status(sample_id: int, request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("status") not in ("skipped", "todo"):
            raise MaskRejected(
                f"sample {sample_id}", f"status {body.get('status')!r}", "'skipped' or 'todo'"
            )
        studio.folder.set_skipped(sample_id, body["status"] == "skipped")
        return {"id": sample_id, "status": body["status"]}

    @app.get("/api/annotations/{sample_id}")
    def annotation(sample_id: int, as_: str = Query("palette", alias="as")) -> Response:
        """The saved mask as stored (palette PNG), or with ``?as=index`` as a grey PNG of ids."""
        version = studio.folder.version(sample_id)
        mask = studio.folder.read_mask(sample_id)
        if mask is None:
            return JSONResponse(
                {"detail": f"sample {sample_id}: no annotation yet"}, status_code=404
            )
        if as_ == "index":
            return Response(
                encode_index(mask), media_type="image/png", headers={"ETag": str(version)}
            )
        path = studio.folder.mask_path(sample_id)
        return FileResponse(path, media_type="image/png", headers={"ETag": str(version)})

    @app.get("/api/annotations/{sample_id}/version")
    def version(sample_id: int) -> dict[str, int]:
        return {"id": sample_id, "version": studio.folder.version(sample_id)}

    @app.put("/api/annotations/{sample_id}")
    async def save(sample_id: int, request: Request) -> dict[str, Any]:
        studio.folder.check_id(sample_id)
        body = bytearray()
        async for chunk in request.stream():  # bounded even without a Content-Length
            body += chunk
            if len(body) > max_body:
                return JSONResponse({"detail": f"body over {max_body} bytes"}, status_code=413)  # type: ignore[return-value]
        before = studio.folder.version(sample_id)
        started_from = request.headers.get("if-match")
        saved = studio.folder.save_mask(sample_id, bytes(body))
        replaced = (
            started_from is not None and started_from.isdigit() and int(started_from) != before
        )
        return {"saved": str(saved.path), "version": saved.version, "counts": saved.counts,
                "replaced_other_save": bool(replaced)}  # fmt: skip

    @app.post("/api/retrain")
    def retrain() -> dict[str, Any]:
        return studio.start_retrain()

    @app.get("/api/retrain")
    def retrain_state() -> dict[str, Any]:
        return studio.job.to_dict()

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def access_token(host: str, token: str | None) -> str | None:
    """The token the server will demand: ``token``; for a non-loopback host always one (made here
    when none is given); for loopback none unless given."""
    if token:
        return token
    return None if host in LOOPBACK else secrets.token_urlsafe(24)


def serve(
    studio: Studio,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = True,
    say: Any = print,
) -> None:
    """Serve the studio until interrupted. A non-loopback ``host`` always needs a token (one is
    made when none is given); the URL printed carries it once."""
    import threading
    import webbrowser

    import uvicorn

    token = access_token(host, token)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    say(f"annotation studio for {studio.folder.root}: {url}" + (f"?token={token}" if token else ""))
    if token:
        say("requests without this token are refused (401); it is shown only here")
    if open_browser:
        threading.Timer(
            1.0, webbrowser.open, args=(url + (f"?token={token}" if token else ""),)
        ).start()
    uvicorn.run(create_app(studio, token=token), host=host, port=port, log_level="warning")
