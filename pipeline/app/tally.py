"""A job's predictions as the controller gathers them: the running training accuracy,
and the test predictions of any number of network workers merged in sample order.

Pure: no sockets. The controller feeds it every ``Prediction`` of the running job;
once every test sample is in, ``accuracy()`` predicts from the merged output counts
with the model's seed (ties broken exactly as the in-process evaluator breaks them).
"""

from __future__ import annotations

import numpy as np

from pipeline.base.messages import Prediction
from pipeline.base.schedule import predict


class Tally:
    def __init__(self, y_test: np.ndarray, n_output: int, seed: int) -> None:
        self.y_test, self.seed = np.asarray(y_test), seed
        self.counts = np.zeros((len(self.y_test), n_output), np.int32)
        self.tested = np.zeros(len(self.y_test), bool)
        self.restart()

    def restart(self) -> None:
        """Forget what came in (a resumed job sends its predictions again)."""
        self.tested[:] = False
        self.test_ids: list[np.ndarray] = []
        self.train_preds = self.train_correct = 0

    def add(self, msg: Prediction) -> bool:
        """Count one prediction message; True when it completes the test split. Sample ids
        outside the split, or counts of the wrong shape, raise ``ValueError`` (the message
        is not counted)."""
        if msg.phase == "train":
            self.train_preds += len(msg.sample_ids)
            self.train_correct += int(np.sum(msg.predicted == msg.labels))
            return False
        ids = np.asarray(msg.sample_ids)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.y_test)):
            raise ValueError(f"test sample ids outside 0..{len(self.y_test) - 1}")
        fresh = ~self.tested[ids]
        self.counts[ids] = msg.counts  # a wrong shape raises here, before anything is counted
        self.test_ids.append(ids)
        self.tested[ids] = True
        return bool(np.any(fresh)) and bool(self.tested.all())

    @property
    def n_tested(self) -> int:
        """Test predictions received, repeats included."""
        return int(sum(len(i) for i in self.test_ids))

    @property
    def n_unique(self) -> int:
        return int(len(np.unique(np.concatenate(self.test_ids)))) if self.test_ids else 0

    @property
    def running_accuracy(self) -> float:
        return self.train_correct / max(self.train_preds, 1)

    def accuracy(self) -> float:
        return float(np.mean(predict(self.counts, self.seed) == self.y_test))
