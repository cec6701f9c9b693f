"""Train a logistic regression on the iris flowers (a data set that ships with scikit-learn).

Plain Azure ML v1 code: arguments with argparse, metrics through ``Run.get_context()``, the
model saved under ``./outputs`` (kept with the run when it ends).

    python train.py --C 0.5 --max-iter 200
"""

import argparse
import os

import joblib
from azureml.core import Run
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--C", type=float, default=1.0, help="inverse regularization strength")
parser.add_argument("--max-iter", type=int, default=200, help="solver iterations at most")
args = parser.parse_args()

run = Run.get_context()
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=1, stratify=y)
print(f"training on {len(X_train)} flowers, testing on {len(X_test)}; C={args.C}")

model = LogisticRegression(C=args.C, max_iter=args.max_iter)
model.fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
print(f"accuracy {accuracy:.3f}")

run.log("C", args.C)
run.log("max_iter", args.max_iter)
run.log("accuracy", accuracy)
run.log_list(
    "class_accuracy", [model.score(X_test[y_test == k], y_test[y_test == k]) for k in range(3)]
)

os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.joblib")
print("saved outputs/model.joblib")
