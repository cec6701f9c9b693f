"""Split the iris data into train and test files (the folder comes as the first argument)."""

import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

out, test_size = Path(sys.argv[1]), float(sys.argv[2])
frame = load_iris(as_frame=True).frame
train, test = train_test_split(frame, test_size=test_size, random_state=0)
train.to_csv(out / "train.csv", index=False)
test.to_csv(out / "test.csv", index=False)
print(f"prepared {len(train)} train rows and {len(test)} test rows")
