"""The gateway as an ASGI application built from the environment (`uvicorn --factory gateway.server:app`)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from domain.settings import settings_from_mapping
from gateway.app import create_app


def app() -> FastAPI:
    return create_app(settings_from_mapping(os.environ))
