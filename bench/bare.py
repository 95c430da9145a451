"""The reference for the gateway's overhead: a bare FastAPI endpoint, served as the gateway is.

``python -m bench.bare <host> <port> <body-file>`` answers ``GET /bare`` with the JSON document
in the body file: no token check, no registry, no middleware, but the same framework, the same
kind of endpoint (a plain ``def``, run in FastAPI's thread pool, its answer encoded by FastAPI),
the same server (uvicorn with the same defaults, one worker, as ``python -m gateway serve``) and
the gateway's own answer as the body, so the difference is what the gateway's own work costs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

PATH = "/bare"


def bare_app(body: Any) -> FastAPI:
    app = FastAPI()

    @app.get(PATH)
    def answer() -> Any:
        return body

    return app


def main(argv: list[str]) -> int:
    host, port, body = argv
    uvicorn.run(
        bare_app(json.loads(Path(body).read_text())), host=host, port=int(port), log_config=None
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
