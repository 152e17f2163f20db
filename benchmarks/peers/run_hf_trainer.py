"""A plain Hugging Face ``Trainer`` fine-tune on a few-shot subset (peer of bench_fewshot.py).

Runs in the peers' own environment (see requirements-peers.txt), not the project's:

    ../peers-venv/bin/python benchmarks/peers/run_hf_trainer.py --train subset.csv \
        --test ../shared/datasets/banking77/test.csv --model PATH --seed 0 --output out.json

``AutoModelForSequenceClassification`` on the encoder (a new, randomly initialised
classification layer; BERT-style models classify from the [CLS] pooler), cross-entropy,
AdamW with linear decay. Defaults (common settings for a small labelled set): learning rate
5e-5, batch 16, 10 epochs, 10% warm-up, weight decay 0.01, max length 64 tokens, no
validation split (all labelled examples train; the last epoch is evaluated).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Subsets, accuracy, base_parser, train_loss, write_json_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__, "Hugging Face model directory")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--warmup-ratio", type=float, default=0.1,
                        help="fraction of steps (transformers 5 takes it as warmup_steps < 1)")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    data = Subsets(args.train, args.test)
    train_texts, train_labels, test_texts, test_labels = (
        data.train_texts, data.train_labels, data.test_texts, data.test_labels)
    names, index = data.names, data.index
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    def rows(texts, labels):
        enc = tokenizer(texts, truncation=True, max_length=args.max_length)
        return [{"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                 "labels": index.get(labels[i], -100)} for i in range(len(texts))]

    transformers.set_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(names), id2label=dict(enumerate(names)), label2id=index)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, learning_rate=args.lr, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64, num_train_epochs=args.epochs, max_steps=args.max_steps,
            warmup_steps=args.warmup_ratio, weight_decay=args.weight_decay, lr_scheduler_type="linear",
            seed=args.seed, eval_strategy="no", save_strategy="no", logging_strategy="epoch",
            report_to="none", use_cpu=True, disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=targs, train_dataset=rows(train_texts, train_labels),
                          data_collator=DataCollatorWithPadding(tokenizer))
        start = time.perf_counter()
        train_output = trainer.train()
        seconds = time.perf_counter() - start
        logits = trainer.predict(rows(test_texts, test_labels)).predictions
    predicted = [names[int(i)] for i in np.asarray(logits).argmax(-1)]
    result = {
        "method": "hf-trainer", "seed": args.seed, "n_train": len(train_texts), "n_test": len(test_texts),
        "accuracy": accuracy(predicted, test_labels), "train_seconds": round(seconds, 1),
        "train_loss": train_loss(train_output),
        "settings": {"learning_rate": args.lr, "batch_size": args.batch_size, "epochs": args.epochs,
                     "warmup_ratio": args.warmup_ratio, "weight_decay": args.weight_decay,
                     "max_length": args.max_length, "max_steps": args.max_steps,
                     "model_class": type(model).__name__},
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "python": sys.version.split()[0]},
    }
    write_json_atomic(args.output, result)
    print(result)


if __name__ == "__main__":
    main()
