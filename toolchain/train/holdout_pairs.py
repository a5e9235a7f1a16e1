"""Writes an identity-disjoint validation pair list from LFW's training-only images.

    /usr/bin/python3 toolchain/train/holdout_pairs.py --out build/labels/holdout-pairs.txt

LFW's View 1 pair lists are evaluation data, and pairsDevTrain's people also appear in
`train_images.txt`, so a model trained on those identities scores optimistically on DevTrain.
This picks `--identities` people with at least two images in `lfw/train_images.txt`, writes
same-person and different-person pairs among them (LFW's `name i j` / `name1 i name2 j` format,
for `jetface eval verify --root lfw/images`), and `train_v3.py --holdout` leaves every image of
those people out of training.
"""
from __future__ import annotations

import argparse
import random
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='../shared/data')
    ap.add_argument('--out', required=True)
    ap.add_argument('--identities', type=int, default=80)
    ap.add_argument('--pairs', type=int, default=300, help='same-person pairs, and as many different-person pairs')
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    images: dict[str, list[int]] = defaultdict(list)
    for line in (Path(args.data) / 'lfw' / 'train_images.txt').read_text().split():
        name, file = line.split('/')
        images[name].append(int(file.rsplit('_', 1)[1].split('.')[0]))
    rng = random.Random(args.seed)
    people = sorted(n for n, ids in images.items() if len(ids) >= 2)
    chosen = sorted(rng.sample(people, min(args.identities, len(people))))
    same = sorted({(n, *sorted(rng.sample(images[n], 2))) for n in chosen for _ in range(8)})
    same = rng.sample(same, min(args.pairs, len(same)))
    diff: set[tuple] = set()
    while len(diff) < len(same):
        a, b = rng.sample(chosen, 2)
        diff.add((a, rng.choice(images[a]), b, rng.choice(images[b])))
    lines = [f'{n}\t{i}\t{j}' for n, i, j in same] + [f'{a}\t{i}\t{b}\t{j}' for a, i, b, j in sorted(diff)]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text('\n'.join(lines) + '\n')
    print(f'{len(same)} same / {len(diff)} different pairs over {len(chosen)} people -> {args.out}')


if __name__ == '__main__':
    main()
