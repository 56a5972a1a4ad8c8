"""LitServe serving the same models with its defaults (run in the bench environment):
``python serve_litserve.py PORT MODEL``; POST /predict."""

import sys

import litserve as ls
import numpy as np

from serving_model import MODELS


class Api(ls.LitAPI):
    def setup(self, device):
        self.model = MODELS[sys.argv[2]]()

    def decode_request(self, request):
        return np.asarray(request["features"], dtype=np.float32)

    def predict(self, x):
        return self.model.predict(x)

    def encode_response(self, output):
        return {"predictions": output.tolist()}


if __name__ == "__main__":
    ls.LitServer(Api(), accelerator="cpu").run(port=int(sys.argv[1]), generate_client_file=False)
