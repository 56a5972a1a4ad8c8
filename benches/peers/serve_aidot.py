"""aidot's side of the serving benchmark: ``python serve_aidot.py PORT`` serves the MLP as
``mlp`` and the identity model as ``echo`` with default settings, until killed."""

import sys
import threading

from benches.serving_model import MODELS

from aidot.serving import ModelRepository, serve

repository = ModelRepository()
for name, model in MODELS.items():
    repository.load(name, model())
server = serve(repository, port=int(sys.argv[1]))
print("ready", flush=True)
threading.Event().wait()
