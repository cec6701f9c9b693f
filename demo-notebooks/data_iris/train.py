"""Train on the iris table a notebook registered as a dataset, and write a scored copy.

Plain Azure ML v1 code: the table comes from ``run.input_datasets`` (the dataset passed as a
named input), the scored rows go to the output folder given as ``--out`` (an
``OutputFileDatasetConfig``: uploaded to its datastore when the run completes).

    python train.py --data <dataset id> --out scored/
"""

import argparse
import os

import joblib
from azureml.core import Run
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", help="the dataset (its id: the run gets it by name too)")
parser.add_argument("--out", help="the folder the scored rows go to")
args = parser.parse_args()

run = Run.get_context()
table = run.input_datasets["iris"].to_pandas_dataframe()
features, species = table.drop(columns="species"), table["species"]
X_train, X_test, y_train, y_test = train_test_split(
    features, species, test_size=0.3, random_state=1, stratify=species
)
model = LogisticRegression(max_iter=500).fit(X_train, y_train)
accuracy = model.score(X_test, y_test)
run.log("accuracy", accuracy)
print(f"trained on {len(X_train)} rows of dataset {args.data}: accuracy {accuracy:.3f}")

os.makedirs(args.out, exist_ok=True)
table.assign(predicted=model.predict(features)).to_csv(
    os.path.join(args.out, "scored.csv"), index=False
)
os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.joblib")
