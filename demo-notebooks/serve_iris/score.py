"""The entry script of the iris scoring service: v1's contract, unchanged.

init() runs once per worker, with AZUREML_MODEL_DIR set; run(raw_data) gets each request's
JSON body as a string and returns something JSON can carry.
"""

import json

import joblib
from azureml.core.model import Model

NAMES = ["setosa", "versicolor", "virginica"]


def init():
    global model
    model = joblib.load(Model.get_model_path("iris"))


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"species": [NAMES[k] for k in model.predict(rows)]}
