"""The ``tfrec`` command: train, evaluate, export, recommend, and data tools.

    tfrec train --config pipelines/configs/retrieval_synthetic.yaml --run runs/demo
    tfrec evaluate --run runs/demo
    tfrec export --run runs/demo --base saved_models
    tfrec recommend --user u1 --k 10 --base saved_models
    tfrec serve --base saved_models --port 8500
    tfrec recommend --user u1 --k 10 --server 127.0.0.1:8500
    tfrec index add --run runs/demo --items new_items.csv --base saved_models
    tfrec data download movielens-100k --dest data/movielens-100k
    tfrec data check --config pipelines/configs/retrieval_movielens.yaml

Errors the user can fix (a bad file, a bad config, a missing run) are printed
as one clear line and exit with status 2; nothing is half-written.
"""

from __future__ import annotations

import argparse
import sys

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)


def _parse_override(text: str):
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key, yaml.safe_load(value)


def cmd_train(args) -> None:
    from tfrec.config import load_config
    from tfrec.training.retrieval_trainer import train_retrieval

    overrides = dict(args.set or [])
    if args.skip_bad_rows:
        overrides["data.skip_bad_rows"] = True
    train_retrieval(load_config(args.config, overrides=overrides), args.run)


def cmd_evaluate(args) -> None:
    from tfrec.evaluation.run_evaluation import evaluate_run

    evaluate_run(args.run)


def cmd_export(args) -> None:
    from tfrec.export.candidate_encoder_export import export_candidate_encoder
    from tfrec.export.catalogue_update import with_added_items
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.training.experiment import Experiment

    exp = with_added_items(Experiment.from_run(args.run), args.run)
    model = exp.load_model(args.run)
    max_k = args.max_k or exp.config.export.max_k
    path = export_retrieval(exp, model, args.base, version=args.version, max_k=max_k,
                            exclude_seen=exp.config.export.exclude_seen)
    print(f"exported retrieval model to {path}")
    if exp.config.model.content.enabled:
        path = export_candidate_encoder(exp, model, args.base, version=args.version)
        print(f"exported candidate encoder to {path}")
    from tfrec.export.serving_config import write_serving_files

    config_path, batching_path = write_serving_files(args.base, args.serving_base)
    print(f"TF Serving files: {config_path}, {batching_path}")


def cmd_index_add(args) -> None:
    from tfrec.export.catalogue_update import add_items

    add_items(args.run, args.items, args.base, skip_bad_rows=args.skip_bad_rows, max_k=args.max_k)


def cmd_recommend(args) -> None:
    if args.server:
        return _recommend_over_grpc(args)
    from tfrec.serving.saved_model_recommender import SavedModelRecommender

    recommender = SavedModelRecommender(args.base, args.version)
    print(f"retrieval model version {recommender.version} ({recommender.path})")
    for user, recs in zip(args.user, recommender.recommend(args.user, args.k)):
        print(f"\ntop {args.k} for user {user}:")
        for rank, rec in enumerate(recs, 1):
            print(f"{rank:>3}. {rec.item_id:<12} {rec.score:8.4f}  {rec.title}")


def _recommend_over_grpc(args) -> None:
    """The same table from a TF Serving (or ``tfrec serve``) server; titles stay blank."""
    from tfrec.serving.client import ServingClient
    from tfrec.serving.errors import ServingError

    try:
        with ServingClient(args.server, timeout_s=args.timeout) as client:
            results = client.recommend(args.user, args.k, version=args.version)
            status = client.model_status("retrieval", args.version)
    except ServingError as e:
        print(f"tfrec recommend: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    version = max((s.version for s in status if s.state == "AVAILABLE"), default="?")
    print(f"retrieval model version {version} (server {args.server})")
    for user, recs in zip(args.user, results):
        print(f"\ntop {args.k} for user {user}:")
        for rank, (item_id, score) in enumerate(recs, 1):
            print(f"{rank:>3}. {item_id:<12} {score:8.4f}  ")


def cmd_serve(args) -> None:
    from tfrec.serving.model_server import serve

    serve(args)


def add_serve_arguments(parser) -> None:
    """``tfrec serve``'s options; kept here so ``tfrec --help`` needs no TensorFlow import."""
    parser.add_argument("--base", default="saved_models", help="model base path (every model folder is served)")
    parser.add_argument("--model-config-file", help="text-format ModelServerConfig (models.config); --base is then ignored")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions (0: never)")
    parser.add_argument("--max-message-mb", type=int, default=16, help="largest request/response message in MiB")
    parser.add_argument("--max-workers", type=int, default=8, help="request threads")
    parser.add_argument("--max-string-mb", type=float, default=4.0, help="largest string in a request tensor")
    parser.add_argument("--grace-seconds", type=float, default=5.0, help="time running requests get on shutdown")


def cmd_data_download(args) -> None:
    from tfrec.data.download import DEFAULT_URL, download_movielens_100k

    path = download_movielens_100k(args.dest, url=args.url or DEFAULT_URL)
    print(f"MovieLens 100K downloaded and checked: {path}")


def cmd_data_check(args) -> None:
    from tfrec.config import load_config
    from tfrec.data.sources import load_dataset

    overrides = {"data.skip_bad_rows": True} if args.skip_bad_rows else {}
    dataset, report = load_dataset(load_config(args.config, overrides=overrides).data)
    print(dataset.summary())
    if report is not None:
        print(report.format())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfrec", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the retrieval model of a config")
    p.add_argument("--config", required=True, help="YAML config (see pipelines/configs/)")
    p.add_argument("--run", required=True, help="run folder to write")
    p.add_argument("--set", action="append", type=_parse_override, metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count bad input rows instead of failing")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="full-ranking test metrics of a run, with the popularity baseline")
    p.add_argument("--run", required=True)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a run as a TF Serving SavedModel version")
    p.add_argument("--run", required=True)
    p.add_argument("--base", default="saved_models", help="TF Serving model base path")
    p.add_argument("--version", type=int, help="version number (default: next free integer)")
    p.add_argument("--max-k", type=int, help="largest k a request may ask for")
    p.add_argument("--serving-base", help="the base path as TF Serving sees it, for models.config "
                                          "(e.g. /models inside the tensorflow/serving container)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("recommend", help="top-k items for users from the exported model")
    p.add_argument("--user", required=True, action="append", help="user id (repeatable)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--base", default="saved_models")
    p.add_argument("--version", type=int, help="model version (default: newest)")
    p.add_argument("--server", metavar="HOST:PORT", help="ask a TF Serving gRPC server instead of loading --base")
    p.add_argument("--timeout", type=float, default=10.0, help="gRPC deadline in seconds (with --server)")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("serve", help="development gRPC model server (TF Serving's protocol) for a base path")
    add_serve_arguments(p)
    p.set_defaults(func=cmd_serve)

    index = sub.add_parser("index", help="retrieval index tools").add_subparsers(dest="index_command", required=True)
    p = index.add_parser("add", help="embed new items from their content and export a retrieval version with them")
    p.add_argument("--run", required=True, help="the trained run whose towers embed the items")
    p.add_argument("--items", required=True, help="CSV/Parquet: item_id, title, text, image_path, categorical columns")
    p.add_argument("--base", default="saved_models")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.add_argument("--max-k", type=int, help="largest k a request may ask for (default: the run's)")
    p.set_defaults(func=cmd_index_add)

    data = sub.add_parser("data", help="data set tools").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("download", help="download a public data set (checksums checked)")
    p.add_argument("dataset", choices=["movielens-100k"])
    p.add_argument("--dest", required=True, help="folder to create")
    p.add_argument("--url", help="alternative download address")
    p.set_defaults(func=cmd_data_download)
    p = data.add_parser("check", help="load and validate the data of a config, print the report")
    p.add_argument("--config", required=True)
    p.add_argument("--skip-bad-rows", action="store_true")
    p.set_defaults(func=cmd_data_check)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from tfrec.errors import USER_ERRORS

    try:
        args.func(args)
    except USER_ERRORS as e:
        print(f"tfrec {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
