"""Register a trained scikit-learn model with its run and data, move it through the stages,
give it an alias, and load it back by URI.

    python examples/register_and_promote.py      # needs scikit-learn and skops
"""

import numpy as np
from sklearn.linear_model import LogisticRegression

import aidot

ws = aidot.default_workspace()
rng = np.random.default_rng(0)
x = rng.normal(size=(500, 4)).astype(np.float32)
y = (x[:, 0] - x[:, 1] > 0).astype(int)

with ws.tracker.start_run("churn", name="logreg") as run:
    model = LogisticRegression().fit(x, y)
    accuracy = float(model.score(x, y))
    run.log_metric("accuracy", accuracy)
    version = ws.registry.create_model_version(
        "churn", model=model, input_example=x[:5], run=run, metrics={"accuracy": accuracy}
    )

ws.registry.transition_stage("churn", version.version, "Staging", comment="passed offline eval")
ws.registry.transition_stage(
    "churn", version.version, "Production", archive_existing=True, comment="A/B test won"
)
ws.registry.set_alias("churn", "champion", version.version)

served = ws.registry.load_model("models:/churn@champion")
print(f"{version.uri} is in Production as @champion; predictions: {served.predict(x[:5]).ravel()}")
lineage = ws.registry.lineage("models:/churn@Production")
print(f"trained by run {lineage.run.name} ({lineage.run.id}), accuracy {accuracy:.3f}")
for event in ws.registry.history("churn"):
    change = f"{event.previous or ''} -> {event.target}"
    print(f"  v{event.version} {event.event}: {change} by {event.actor}")
