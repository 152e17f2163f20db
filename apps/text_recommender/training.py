"""The demo's recommender: fitted on the sample catalogue and interaction log in well under a
minute (one short fine-tuning epoch on a few hundred behaviour pairs), saved under
``models_dir/demo-recommender`` and reused on the next start.

Real catalogues are fitted with ``text-recommender fit`` (see the README and the MovieLens
benchmark); this module only builds what ``make demo`` and ``text-recommender demo`` show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

from domaintune.errors import ModelLoadError

logger = logging.getLogger(__name__)

DEMO_DIR = "demo-recommender"
# the sample log is small: a short fine-tuning run, a ranker with small leaves
DEMO_SETTINGS = {
    "finetune": {"epochs": 1, "max_pairs": 320, "pairs_per_user": 8, "batch_size": 32},
    "ranker": {"min_child_samples": 5, "num_leaves": 15, "n_estimators": 200},
    "explain": {"verb": "watched"},
}


def demo_recommender(samples: Mapping[str, Path], models_dir: Path, *, retrain: bool = False):
    """Fit (or reuse) the demo's recommender on ``samples["items"]`` and
    ``samples["interactions"]`` (AppSpec ``demo`` hook)."""
    from .config import RecConfig
    from .service import Recommender

    out = Path(models_dir) / DEMO_DIR
    if out.is_dir() and not retrain:
        try:
            return Recommender.load(out)
        except ModelLoadError as exc:  # e.g. written by another version: fit it again
            logger.warning("refitting the demo recommender: %s", exc)
    start = time.perf_counter()
    rec = Recommender.fit(samples["items"], samples["interactions"],
                          RecConfig.from_dict(DEMO_SETTINGS), progress=False)
    rec.save(out, overwrite=True)  # the demo's own directory
    logger.info("demo recommender fitted in %.0f s into %s", time.perf_counter() - start, out)
    return rec
