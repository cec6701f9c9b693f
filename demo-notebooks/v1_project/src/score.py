"""The scoring script of the iris service: v1's init()/run() contract, as it was."""

import json

import joblib
from azureml.core.model import Model

NAMES = ["setosa", "versicolor", "virginica"]


def init():
    global model
    model = joblib.load(Model.get_model_path("iris-v1"))


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"species": [NAMES[k] for k in model.predict(rows)]}
