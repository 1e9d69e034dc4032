"""create_app(): the API server, one error handler, and the routers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from buyu import __version__
from buyu.calls.router import router as calls_router
from buyu.collections.router import router as collections_router
from buyu.db import get_engine
from buyu.errors import BuyuError
from buyu.ledger.router import router as ledger_router
from buyu.plans.router import router as plans_router
from strategies.router import router as strategies_router
from voicebot.telephony.router import router as voice_router

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, details: object = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "details": details}})


async def _buyu_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BuyuError)
    return _error(exc.http_status, exc.code, exc.message, exc.details)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    fields = ", ".join(".".join(str(p) for p in d["loc"][1:]) or str(d["loc"]) for d in details)
    return _error(422, "invalid_input", f"invalid request: {fields}", details)


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # A constraint the service did not foresee (e.g. a race on a unique key): nothing was written.
    log.warning("integrity error: %s", exc)
    return _error(409, "conflict", "the request conflicts with existing data; nothing was written")


async def _db_busy(_: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return _error(503, "database_unavailable", "the database is busy or unreachable; retry with the same key")


def create_app(*, engine: Engine | None = None) -> FastAPI:
    """Build the API application bound to a database engine."""
    app = FastAPI(
        title="Buyu 捕逾",
        version=__version__,
        description="Intelligent collections: ledger, scoring, optimised plans, voice robot, collectors.",
    )
    app.state.engine = engine or get_engine()
    app.add_exception_handler(BuyuError, _buyu_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _db_busy)
    app.include_router(plans_router)
    app.include_router(ledger_router)
    app.include_router(collections_router)
    app.include_router(calls_router)
    app.include_router(voice_router)
    app.include_router(strategies_router)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok", "version": __version__}

    return app
