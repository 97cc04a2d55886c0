"""The HTTP admin API: FastAPI on uvicorn, inside the switch's own event loop."""
