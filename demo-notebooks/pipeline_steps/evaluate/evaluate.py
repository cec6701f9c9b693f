"""Score the model on the test file; log the accuracy."""

import pickle
import sys
from pathlib import Path

import pandas as pd

from azureml.core import Run

data, model_dir = Path(sys.argv[1]), Path(sys.argv[2])
test = pd.read_csv(data / "test.csv")
model = pickle.loads((model_dir / "model.pkl").read_bytes())
accuracy = float((model.predict(test.drop(columns="target")) == test["target"]).mean())
Run.get_context().log("accuracy", accuracy)
print(f"accuracy {accuracy:.3f}")
