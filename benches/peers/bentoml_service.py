"""BentoML serving the same model with its defaults (run in the bench environment):
``bentoml serve bentoml_service:Mlp --port PORT``; POST /predict."""

import bentoml
import numpy as np

from serving_model import MODELS


@bentoml.service
class Mlp:
    def __init__(self) -> None:
        self.model = MODELS["mlp"]()

    @bentoml.api
    def predict(self, features: list[list[float]]) -> dict:
        output = self.model.predict(np.asarray(features, dtype=np.float32))
        return {"predictions": output.tolist()}
