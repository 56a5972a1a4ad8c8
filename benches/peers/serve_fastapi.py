"""FastAPI + uvicorn serving the same models, the way the FastAPI docs show (run in the bench
environment): ``python serve_fastapi.py PORT``; POST /api/inference/predict/{model}."""

import sys

import numpy as np
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from serving_model import MODELS

models = {name: model() for name, model in MODELS.items()}
app = FastAPI()


class Request(BaseModel):
    features: list[list[float]]


@app.post("/api/inference/predict/{name}")
def predict(name: str, request: Request) -> dict:
    model = models.get(name)
    if model is None:
        raise HTTPException(404, f"no model {name}")
    output = model.predict(np.asarray(request.features, dtype=np.float32))
    return {"predictions": output.tolist()}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
