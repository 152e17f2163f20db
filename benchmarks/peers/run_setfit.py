"""SetFit 1.x on a few-shot subset, at the SetFit paper's settings (peer of bench_fewshot.py).

Runs in the peers' own environment (see requirements-peers.txt), not the project's:

    ../peers-venv/bin/python benchmarks/peers/run_setfit.py --train subset.csv \
        --test ../shared/datasets/banking77/test.csv --model PATH --seed 0 --output out.json

Defaults = Tunstall et al. 2022: 20 contrastive pair iterations per example (positive and
negative pairs, CosineSimilarityLoss), batch 16, 1 epoch, body learning rate 2e-5, then a
scikit-learn logistic-regression head on the tuned embeddings.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Subsets, accuracy, base_parser, train_loss, write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__, "sentence-transformers model directory")
    parser.add_argument("--num-iterations", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--body-lr", type=float, default=2e-5)
    args = parser.parse_args(argv)

    import setfit
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    data = Subsets(args.train, args.test)
    train_texts, train_labels, test_texts, test_labels = (
        data.train_texts, data.train_labels, data.test_texts, data.test_labels)
    names, index = data.names, data.index
    train = Dataset.from_dict({"text": train_texts, "label": [index[y] for y in train_labels]})
    model = SetFitModel.from_pretrained(args.model)  # default head: LogisticRegression
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, batch_size=args.batch_size, num_epochs=args.epochs,
            num_iterations=args.num_iterations, body_learning_rate=args.body_lr, seed=args.seed,
            max_steps=args.max_steps, eval_strategy="no", save_strategy="no", report_to="none",
            show_progress_bar=False,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=train)
        start = time.perf_counter()
        train_output = trainer.train()
        seconds = time.perf_counter() - start
    predicted = model.predict(test_texts, batch_size=64, as_numpy=True)
    predicted = [names[int(p)] for p in predicted]
    result = {
        "method": "setfit", "seed": args.seed, "n_train": len(train_texts), "n_test": len(test_texts),
        "accuracy": accuracy(predicted, test_labels), "train_seconds": round(seconds, 1),
        "train_loss": train_loss(train_output),
        "settings": {"num_iterations": args.num_iterations, "batch_size": args.batch_size,
                     "epochs": args.epochs, "body_learning_rate": args.body_lr,
                     "max_steps": args.max_steps, "head": "LogisticRegression",
                     "loss": "CosineSimilarityLoss"},
        "versions": {"setfit": setfit.__version__, "torch": torch.__version__,
                     "python": sys.version.split()[0]},
    }
    write_json_atomic(args.output, result)
    print(result)


if __name__ == "__main__":
    main()
