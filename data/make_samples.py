"""Write the project's small, fictional sample data into this folder.

Every sample belongs to its owner: the core writes its intent and NER samples
(``domaintune.samples``, templates in ``shared/domaintune/sample_data/``) and each registered
app writes its own (``AppSpec.samples``, e.g. ``support_bot.samples`` with templates in
``apps/support_bot/sample_data/``). This script calls them all. Everything is invented for a
fictional bank, seeded (byte-for-byte the same output on every run) and written atomically;
see data/README.md for the files.

Usage::

    python data/make_samples.py [--out data] [--force]

Only missing files are written unless ``--force`` is given. From Python (the module is not part
of a package): ``runpy.run_path("data/make_samples.py")["make_samples"]()``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_samples(out_dir: str | Path = HERE, force: bool = False) -> dict[str, Path]:
    """Write the core's and every registered app's sample files under ``out_dir``.

    Returns:
        ``{name: path}`` of all of them (``intents``, ``intents_test``, ``ner_train``,
        ``ner_test``, ``faq``, ``oos``, ``faq_queries`` ...).

    Raises:
        domaintune.apps.AppLoadError: a registered app cannot be loaded (after the others wrote
            their samples).
        ValueError: two samples claim the same name for different files.
    """
    from domaintune import samples
    from domaintune.apps import discover

    paths = samples.write_samples(out_dir, force=force)
    paths.update(samples.write_ner_samples(out_dir, force=force))
    apps, errors = discover()
    for app in apps:
        for name, path in app.write_samples(out_dir, force=force).items():
            if paths.setdefault(name, path) != path:
                raise ValueError(f"app {app.name!r} writes its sample {name!r} to {path}, but "
                                 f"{paths[name]} already has that name; rename one of them")
    if errors:
        raise errors[0]
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="output folder (default: the folder of this script)")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    args = parser.parse_args(argv)
    before = {p for p in args.out.rglob("*") if p.is_file()} if args.out.is_dir() else set()
    paths = make_samples(args.out, force=args.force)
    for path in paths.values():
        status = "kept" if path in before and not args.force else "wrote"
        print(f"{status:5} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
