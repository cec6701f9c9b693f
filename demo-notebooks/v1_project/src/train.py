"""Train a logistic regression on the iris flowers: an Azure ML v1 training script, as it was.

Metrics go through both of v1's ways: ``Run.get_context().log`` and MLflow's autolog (v1 set
``MLFLOW_TRACKING_URI`` for every run, so MLflow logged into the Azure ML run). The model is
saved under ``./outputs``, which the run keeps.

    python train.py --C 0.5
"""

import argparse
import os

import joblib
import mlflow
from azureml.core import Run
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--C", type=float, default=1.0, help="inverse regularization strength")
args = parser.parse_args()

run = Run.get_context()
mlflow.autolog(log_models=False)  # params and training metrics into this run

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1, stratify=y)
with mlflow.start_run():
    model = LogisticRegression(C=args.C, max_iter=300).fit(X_train, y_train)
    accuracy = model.score(X_test, y_test)
run.log("C", args.C)
run.log("accuracy", accuracy)
print(f"accuracy {accuracy:.3f}")

os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.joblib")
