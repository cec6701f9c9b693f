"""A toy training loop that writes TensorBoard scalars to ./logs.

What a run writes to ./logs is kept with the run, and TensorBoard can read it while the run
goes on. ``tensorboard.summary.Writer`` needs neither TensorFlow nor PyTorch; PyTorch's
``torch.utils.tensorboard.SummaryWriter("logs")`` or Keras' ``TensorBoard(log_dir="logs")``
callback write the same files.
"""

import math

from azureml.core import Run
from tensorboard.summary import Writer

run = Run.get_context()
writer = Writer("logs/train")  # one TensorBoard run per folder under ./logs

for step in range(20):
    loss = math.exp(-step / 5)
    accuracy = 1 - loss / 2
    writer.add_scalar("loss", loss, step)
    writer.add_scalar("accuracy", accuracy, step)
    writer.flush()  # TensorBoard sees each step now, not when a buffer fills
    run.log("loss", loss, step=step)  # the same curve as a run metric
    if step % 5 == 4:
        print(f"step {step}: loss {loss:.3f}, accuracy {accuracy:.3f}")

writer.close()
