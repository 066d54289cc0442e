"""Trains one RecBole sequential model (SASRec or GRU4Rec) on tfrec's split and scores tfrec's test users.

Runs inside RecBole's own virtualenv (``.venv-peers``, made by
``benchmarks/peers.py``, which writes the data folder and starts this
script once per model and seed). It never imports tfrec, and tfrec's
virtualenv never imports torch: the two meet only through files.

Input, the folder ``peers.py`` wrote (see ``peers.write_split``):

* ``tfrec-ml100k/tfrec-ml100k.train.inter``: RecBole atomic file of the
  training sequences, one row per training interaction after each user's
  first (``user_id:token``, ``item_id_list:token_seq`` = the up to 20
  training items before it, oldest first, ``item_id:token`` = the item),
  read through RecBole's ``benchmark_filename``, so RecBole neither
  filters nor re-splits anything;
* ``tfrec-ml100k/tfrec-ml100k.item``: the whole catalogue, so RecBole's
  item vocabulary is tfrec's (items never trained on keep their initial
  embedding, as they do in any model);
* ``eval.json``: the catalogue in tfrec's order, and for validation each
  evaluated user's history (latest 20 training items), seen items
  (training) and targets, and for test each user's history (latest 20 of
  training + validation). Test targets are not in it: this script cannot
  see them.

Each epoch trains with RecBole's own ``Trainer._train_epoch`` (its
optimizer, batches and loss), then this script computes tfrec's validation
NDCG@10 itself: the model's full score over all items for each user's
history, the user's seen items excluded, ties counted pessimistically, as
``tfrec.evaluation.full_ranking`` does. RecBole's own full-sort
evaluation is not used: for sequential models it does not exclude the
user's history items, so its numbers are not comparable. Whenever
validation improves, the test users are scored at once and kept (RecBole's
checkpoint reload calls ``torch.load`` without ``weights_only=False``,
which this torch refuses, so no checkpoint is written or read). Training
stops after ``--patience`` epochs without improvement or at
``--max-epochs``.

Output in ``--out``: ``test_scores.npz`` (``user_ids``, ``item_ids`` in
tfrec's order, ``scores`` float32 [users, items] of the best validation
epoch; float32 rather than float16, as rounding would create ties that the
pessimistic ranking then counts against the model) and ``run.json``
(settings, per-epoch loss, validation NDCG@10 and seconds, best epoch,
epochs trained, total seconds).

    python benchmarks/peers_worker.py --data DIR --model sasrec --seed 0 --out DIR
                                      [--max-epochs 200] [--patience 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

DATASET = "tfrec-ml100k"
"""RecBole's name of the data set (not ``ml-100k``, which RecBole maps to its own bundled copy)."""
HISTORY_LENGTH = 20
VALIDATION_K = 10

# RecBole's defaults for these models (recbole/properties/model/*.yaml, 1.2.1) except where stated;
# CE loss over the full catalogue (so no negative sampling), Adam, batch 2048.
COMMON = {
    "MAX_ITEM_LIST_LENGTH": HISTORY_LENGTH,
    "loss_type": "CE",
    "train_neg_sample_args": None,
    "learner": "adam",
    "learning_rate": 0.001,
    "train_batch_size": 2048,
    "weight_decay": 0.0,
}
MODELS = {
    "sasrec": ("SASRec", {**COMMON, "n_layers": 2, "n_heads": 2, "hidden_size": 64, "inner_size": 256,
                          # RecBole's default is 0.5; 0.2 is the usual SASRec setting for MovieLens.
                          "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2,
                          "hidden_act": "gelu", "layer_norm_eps": 1e-12, "initializer_range": 0.02}),
    "gru4rec": ("GRU4Rec", {**COMMON, "embedding_size": 64, "hidden_size": 128, "num_layers": 1,
                            "dropout_prob": 0.3}),
}


# ------------------------------------------------------------------ files (no torch needed)


def dataset_folder(data: str) -> str:
    """Where the RecBole atomic files of a data folder live (RecBole reads ``data_path/<dataset>/``)."""
    return os.path.join(data, DATASET)


def read_train_sequences(data: str) -> list[tuple[str, list[str], str]]:
    """``(user, history, item)`` of every row of the training atomic file, as RecBole would read it."""
    path = os.path.join(dataset_folder(data), f"{DATASET}.train.inter")
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["user_id:token", "item_id_list:token_seq", "item_id:token"]:
            raise ValueError(f"{path}: unexpected header {header}")
        for line in f:
            user, history, item = line.rstrip("\n").split("\t")
            rows.append((user, history.split(" ") if history else [], item))
    return rows


def read_catalogue(data: str) -> list[str]:
    """The item ids of the RecBole item file, in file order."""
    path = os.path.join(dataset_folder(data), f"{DATASET}.item")
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n")
        if header != "item_id:token":
            raise ValueError(f"{path}: unexpected header {header!r}")
        return [line.rstrip("\n") for line in f]


def read_eval(data: str) -> dict:
    """``eval.json``: ``item_ids``, ``validation`` (user_ids, histories, seen, targets), ``test``
    (user_ids, histories)."""
    with open(os.path.join(data, "eval.json"), encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------ tfrec's metric (no torch needed)


def ndcg_at_k(scores: np.ndarray, seen: list, targets: list, k: int = VALIDATION_K) -> float:
    """Mean NDCG@k over users, as ``tfrec.evaluation.full_ranking.evaluate`` computes it.

    ``scores`` is ``[users, items]``; ``seen[u]`` and ``targets[u]`` are the
    item columns user ``u`` already saw (excluded from the ranking) and
    should find. A relevant item's rank is pessimistic: 1 + the unseen items
    scoring higher + the unseen non-relevant items scoring the same + the
    relevant items tied with it that come first by column. Targets that are
    also seen are dropped, and so are users left without a target, as
    tfrec's ``EvaluationSet`` does.
    """
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total, users = 0.0, 0
    for row, seen_u, target_u in zip(scores, seen, targets):
        seen_u = np.asarray(seen_u, dtype=np.int64)
        rel = np.setdiff1d(np.asarray(target_u, dtype=np.int64), seen_u)
        if rel.size == 0:
            continue
        unseen = np.ones(row.shape[0], dtype=bool)
        unseen[seen_u] = False
        values = row[unseen]
        is_rel = np.zeros(row.shape[0], dtype=bool)
        is_rel[rel] = True
        rel_values = row[rel]
        dcg = 0.0
        for j, (item, s) in enumerate(zip(rel, rel_values)):
            above = int(np.count_nonzero(values > s))
            tied = int(np.count_nonzero(values == s))
            tied_rel = rel_values == s
            rank = above + (tied - int(tied_rel.sum())) + int(np.count_nonzero(rel[tied_rel] < item)) + 1
            if rank <= k:
                dcg += discounts[rank - 1]
        total += dcg / discounts[: min(rel.size, k)].sum()
        users += 1
    return total / users if users else float("nan")


# ------------------------------------------------------------------ training (torch and RecBole)


def recbole_setup(model_key: str, data: str, seed: int, work: str):
    """RecBole's config, data set, training loader and model for ``model_key`` on the data folder."""
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.data.dataloader import TrainDataLoader
    from recbole.utils import get_model, init_seed

    torch.set_num_threads(1)
    sys.argv = sys.argv[:1]  # RecBole's Config also reads `--key=value` arguments from the command line
    class_name, settings = MODELS[model_key]
    config = Config(model=class_name, dataset=DATASET, config_dict={
        **settings,
        "data_path": os.path.abspath(data),
        "benchmark_filename": ["train"],
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"], "item": ["item_id"]},
        "alias_of_item_id": ["item_id_list"],
        "seed": seed, "reproducibility": True,
        "use_gpu": False, "device": "cpu", "worker": 0, "show_progress": False,
        "checkpoint_dir": os.path.join(work, "saved"), "save_dataset": False, "save_dataloaders": False,
    })
    init_seed(seed, True)
    dataset = create_dataset(config)
    (train_dataset,) = dataset.build()
    train_data = TrainDataLoader(config, train_dataset, None, shuffle=True)
    init_seed(seed, True)
    model = get_model(class_name)(config, train_dataset).to(config["device"])
    return config, dataset, train_data, model


def history_batch(histories: list[list[str]], dataset) -> dict:
    """RecBole's input for tfrec's histories: internal ids right-padded with 0 to 20 items, and lengths.

    tfrec's item ids are mapped to RecBole's internal ids through RecBole's own
    token table (``dataset.token2id``), since RecBole renumbers the tokens.
    """
    import torch

    seq = np.zeros((len(histories), HISTORY_LENGTH), dtype=np.int64)
    lengths = np.zeros(len(histories), dtype=np.int64)
    for i, history in enumerate(histories):
        history = history[-HISTORY_LENGTH:]
        if not history:
            raise ValueError(f"user {i} has an empty history; every evaluated user needs one")
        seq[i, : len(history)] = dataset.token2id(dataset.iid_field, history)
        lengths[i] = len(history)
    return {"item_id_list": torch.from_numpy(seq), "item_length": torch.from_numpy(lengths)}


def full_scores(model, dataset, histories: list[list[str]], columns: np.ndarray, batch: int = 512) -> np.ndarray:
    """``[users, items]`` float32 scores over tfrec's catalogue: column j is RecBole's id ``columns[j]``."""
    import torch
    from recbole.data.interaction import Interaction

    model.eval()
    out = np.empty((len(histories), len(columns)), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(histories), batch):
            inputs = Interaction(history_batch(histories[start:start + batch], dataset))
            out[start:start + batch] = model.full_sort_predict(inputs).numpy()[:, columns]
    return out


def train(args) -> dict:
    """Trains, early-stops on tfrec's validation NDCG@10 and writes the best epoch's test scores."""
    from recbole.trainer import Trainer

    start = time.time()
    os.makedirs(args.out, exist_ok=True)
    ev = read_eval(args.data)
    config, dataset, train_data, model = recbole_setup(args.model, args.data, args.seed, args.out)
    item_ids = ev["item_ids"]
    # tfrec column j -> RecBole's internal id of the same item (the catalogue file makes every one known).
    columns = np.asarray(dataset.token2id(dataset.iid_field, item_ids), dtype=np.int64)
    assert list(dataset.field2id_token[dataset.iid_field][columns]) == item_ids
    position = {item: j for j, item in enumerate(item_ids)}
    val = ev["validation"]
    val_seen = [[position[i] for i in items] for items in val["seen"]]
    val_targets = [[position[i] for i in items] for items in val["targets"]]

    cwd = os.getcwd()
    os.chdir(args.out)  # RecBole's Trainer makes its log folders in the working directory
    try:
        trainer = Trainer(config, model)
    finally:
        os.chdir(cwd)
    epochs, best, best_epoch, test_scores, waited = [], -math.inf, 0, None, 0
    name = MODELS[args.model][0]
    for epoch in range(1, args.max_epochs + 1):
        t0 = time.time()
        loss = trainer._train_epoch(train_data, epoch - 1, show_progress=False) / len(train_data)  # per batch
        t1 = time.time()
        ndcg = ndcg_at_k(full_scores(model, dataset, val["histories"], columns), val_seen, val_targets)
        t2 = time.time()
        improved = ndcg > best
        if improved:
            best, best_epoch, waited = ndcg, epoch, 0
            test_scores = full_scores(model, dataset, ev["test"]["histories"], columns)
        else:
            waited += 1
        epochs.append({"epoch": epoch, "loss_per_batch": float(loss), "val_ndcg@10": ndcg,
                       "train_seconds": round(t1 - t0, 2), "val_seconds": round(t2 - t1, 2)})
        print(f"    {name} seed {args.seed} epoch {epoch:>3}: loss {loss:.3f}  val ndcg@10 {ndcg:.4f}"
              f"{' *' if improved else '  '}  train {t1 - t0:.1f}s  val {t2 - t1:.1f}s", flush=True)
        if waited >= args.patience:
            break
    if test_scores is None:
        raise RuntimeError(f"validation NDCG@10 was never a number ({[e['val_ndcg@10'] for e in epochs]})")
    np.savez_compressed(os.path.join(args.out, "test_scores.npz"),
                        user_ids=np.asarray(ev["test"]["user_ids"], dtype=str),
                        item_ids=np.asarray(item_ids, dtype=str), scores=test_scores)
    report = {
        "model": name, "seed": args.seed, "settings": MODELS[args.model][1],
        "max_epochs": args.max_epochs, "patience": args.patience,
        "epochs_trained": len(epochs), "best_epoch": best_epoch, "best_val_ndcg@10": best,
        "seconds": round(time.time() - start, 1), "epochs": epochs,
        "training_rows": len(train_data._dataset), "recbole_items": int(dataset.item_num),
    }
    with open(os.path.join(args.out, "run.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder peers.py wrote")
    parser.add_argument("--model", required=True, choices=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for test_scores.npz and run.json")
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--patience", type=int, default=5, help="epochs without a better validation NDCG@10")
    args = parser.parse_args(argv)
    if args.max_epochs < 1 or args.patience < 1:
        parser.error("--max-epochs and --patience must be >= 1")
    return train(args)


if __name__ == "__main__":
    main()
