"""Fit a logistic regression on the prepared train file; save it to the model folder."""

import pickle
import sys
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression

from azureml.core import Run

data, out = Path(sys.argv[1]), Path(sys.argv[2])
train = pd.read_csv(data / "train.csv")
model = LogisticRegression(max_iter=500).fit(train.drop(columns="target"), train["target"])
(out / "model.pkl").write_bytes(pickle.dumps(model))
Run.get_context().log("train_rows", len(train))
print("trained on", len(train), "rows")
