"""The ``tfrec`` command: train, evaluate, export, recommend, and data tools.

    tfrec train --config pipelines/configs/retrieval_synthetic.yaml --run runs/demo
    tfrec train --warm-start runs/demo --data NEW_DATA --run runs/demo-2 --export saved_models
    tfrec tensorboard --run runs/demo --port 6006
    tfrec evaluate --run runs/demo
    tfrec export --run runs/demo --base saved_models
    tfrec recommend --user u1 --k 10 --base saved_models
    tfrec serve --base saved_models --port 8500
    tfrec recommend --user u1 --k 10 --server 127.0.0.1:8500
    tfrec index add --run runs/demo --items new_items.csv --base saved_models
    tfrec data download movielens-100k --dest data/movielens-100k
    tfrec data check --config pipelines/configs/retrieval_movielens.yaml
    tfrec data shard --config pipelines/configs/retrieval_synthetic.yaml --out data/synthetic-shards
    tfrec train-ranking --config pipelines/configs/ranking_synthetic.yaml --run runs/demo-ranking
    tfrec evaluate-ranking --run runs/demo-ranking
    tfrec export-ranking --run runs/demo-ranking --base saved_models
    tfrec recommend --user u1 --two-stage --candidates 100 --k 10

Errors the user can fix (a bad file, a bad config, a missing run) are printed
as one clear line and exit with status 2; nothing is half-written.
"""

from __future__ import annotations

import argparse
import os
import sys

import tfrec  # noqa: F401  (selects Keras 2 before TensorFlow loads)


def _parse_override(text: str):
    import yaml

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, yaml.safe_load(value)  # safe: a !!python/... tag is refused, never run
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"--set {key}: not a plain YAML value: {e}") from None


def _number(cast, low, high=None, what="a number", above=False):
    """An argparse type: ``cast(text)`` from ``low`` (or ``above`` it) to ``high``, else a one-line error."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        fits = (value > low if above else value >= low) and (high is None or value <= high)
        if not fits or value != value or value == float("inf"):
            allowed = (f"{low} to {high}" if high is not None else f"above {low}" if above else f"at least {low}")
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text}")
        return value
    return parse


_positive_int = _number(int, 1, what="a whole number")
_positive_float = _number(float, 0, what="a number", above=True)
_port = _number(int, 0, 65535, what="a port number (0: any free port)")


def cmd_train(args) -> None:
    from tfrec.config import apply_overrides, build_config, read_yaml
    from tfrec.errors import ConfigError
    from tfrec.run_folder import RunFolder

    config_path = args.config
    if args.warm_start:  # continue a trained run: its config unless --config names another
        config_path = config_path or RunFolder(args.warm_start).config_file
    if not config_path:
        raise ConfigError("tfrec train needs --config (or --warm-start RUN, whose config is then used)")
    values = read_yaml(config_path)
    overrides = dict(args.set or [])
    if args.skip_bad_rows:
        overrides["data.skip_bad_rows"] = True
    if args.warm_start:
        overrides["train.warm_start"] = args.warm_start
    if args.data:
        overrides[_data_key(values, overrides)] = args.data
    if args.events:
        overrides["data.events"] = args.events
    config = build_config(apply_overrides(values, overrides), source=config_path)
    _tensorflow_quietly()
    from tfrec.training.retrieval_trainer import train_retrieval

    train_retrieval(config, args.run, overwrite=args.overwrite)
    if args.export:
        cmd_export(argparse.Namespace(run=args.run, base=args.export, version=None, max_k=None,
                                      serving_base=args.serving_base))


def _data_key(values: dict, overrides: dict) -> str:
    """The config key ``--data PATH`` sets: the MovieLens folder, or the tabular interactions file."""
    from tfrec.errors import ConfigError

    source = overrides.get("data.source", (values.get("data") or {}).get("source", "synthetic"))
    if source == "movielens":
        return "data.path"
    if source == "tabular":
        return "data.tabular.interactions"
    raise ConfigError(f"--data names new data files, but data.source is {source!r} (the built-in data set); "
                      "change data.synthetic with --set instead")


def _finished_run(path: str, kind: str | None = None) -> None:
    """Refuses at once (before TensorFlow loads) a folder that holds no finished run of ``kind``."""
    from tfrec.run_folder import RunFolder

    RunFolder(path).require_finished(kind)
    _tensorflow_quietly()


# TensorFlow's start-up chatter on stderr: not about the user's work, and in the way of a one-line error.
_STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
                  "Could not find cuda drivers", "failed call to cuInit", "cuda_platform.cc",
                  "This TensorFlow binary is optimized", "Unable to register cu", "computation placer already")


def _tensorflow_quietly() -> None:
    """Imports TensorFlow (and looks for GPUs) with its start-up chatter kept off stderr; other lines pass."""
    if "tensorflow" in sys.modules:
        return
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not any(noise in line for noise in _STARTUP_NOISE):
                    sys.stderr.write(line)


def cmd_tensorboard(args) -> None:
    from tfrec.training.tensorboard_server import serve

    serve(args.run, host=args.host, port=args.port)


def cmd_evaluate(args) -> None:
    from tfrec.evaluation.baselines import parse_baselines

    baselines = parse_baselines(args.baselines) if args.baselines is not None else ()
    _finished_run(args.run, "retrieval")
    from tfrec.evaluation.run_evaluation import evaluate_run

    evaluate_run(args.run, baselines=baselines)


def cmd_export(args) -> None:
    _finished_run(args.run, "retrieval")
    from tfrec.export.candidate_encoder_export import export_candidate_encoder
    from tfrec.export.catalogue_update import with_added_items
    from tfrec.export.retrieval_export import export_retrieval
    from tfrec.run_folder import RETRIEVAL, RunFolder
    from tfrec.training.experiment import Experiment

    with RunFolder(args.run).reading(RETRIEVAL) as run:
        exp = Experiment.from_run(run)
        model = exp.load_model(run)  # sized by the trained catalogue; the added items join its index only
        exp = with_added_items(exp, run)
        max_k = args.max_k or exp.config.export.max_k
        paths = [export_retrieval(exp, model, args.base, version=args.version, max_k=max_k,
                                  exclude_seen=exp.config.export.exclude_seen)]
        print(f"exported retrieval model to {paths[-1]}")
        if exp.config.model.content.enabled:
            paths.append(export_candidate_encoder(exp, model, args.base, version=args.version))
            print(f"exported candidate encoder to {paths[-1]}")
    _merge_serving_files(args.base, args.serving_base, paths)


def _merge_serving_files(base: str, serving_base: str | None, version_paths: list[str]) -> None:
    """Adds the models of the exported versions to ``base``'s models.config (see ``write_serving_files``)."""
    from tfrec.export.serving_config import write_serving_files

    models = [os.path.basename(os.path.dirname(os.path.abspath(path))) for path in version_paths]
    config_path, batching_path = write_serving_files(base, serving_base, models=models)
    print(f"TF Serving files: {config_path}, {batching_path}")


def cmd_report(args) -> None:
    _finished_run(args.run)
    from tfrec.evaluation.report import write_report

    print(f"report written to {write_report(args.run, args.latency)}")


def cmd_index_add(args) -> None:
    _finished_run(args.run, "retrieval")
    from tfrec.export.catalogue_update import add_items

    path = add_items(args.run, args.items, args.base, skip_bad_rows=args.skip_bad_rows, max_k=args.max_k)
    _merge_serving_files(args.base, None, [path])


def cmd_train_ranking(args) -> None:
    from tfrec.config import RankingConfig, load_config

    config = load_config(args.config, RankingConfig, overrides=dict(args.set or []))
    _tensorflow_quietly()
    from tfrec.training.ranking_trainer import train_ranking

    train_ranking(config, args.run, overwrite=args.overwrite)


def cmd_evaluate_ranking(args) -> None:
    _finished_run(args.run, "ranking")
    from tfrec.evaluation.ranking_evaluation import evaluate_ranking_run

    evaluate_ranking_run(args.run, retrieval_run=args.retrieval_run, k=args.candidates)


def cmd_export_ranking(args) -> None:
    _finished_run(args.run, "ranking")
    from tfrec.export.ranking_export import export_ranking
    from tfrec.run_folder import RANKING, RunFolder
    from tfrec.training.ranking_experiment import RankingExperiment

    with RunFolder(args.run).reading(RANKING) as run:
        exp = RankingExperiment.from_run(run)
        path = export_ranking(exp, exp.load_model(), args.base, version=args.version)
    print(f"exported ranking model to {path}")
    _merge_serving_files(args.base, args.serving_base, [path])


def _serving_client(args):
    """A client for ``--server`` with the command's deadline and TLS files (PEM paths)."""
    from tfrec.serving.client import ServingClient

    return ServingClient(args.server, timeout_s=args.timeout, root_certificates=args.tls_ca,
                         client_cert=args.tls_cert, client_key=args.tls_key)


def _events_store(args):
    """The event store of ``--events`` (None without one)."""
    if not args.events:
        return None
    from tfrec.events import open_store

    return open_store(args.events)


def _ask(recommend, args, length: int) -> list:
    """``recommend(users[, histories=])`` for ``args.user``, with each user's latest events when ``--events``."""
    store = _events_store(args)
    if store is None:
        return recommend(args.user)
    from tfrec.events.recent import with_latest_events

    with store:
        return with_latest_events(recommend, args.user, store, args.history_length or length)


def _print_recommendations(args, results, retrieved: bool = False) -> None:
    for user, recs in zip(args.user, results):
        print(f"\ntop {args.k} for user {user}:")
        for rank, rec in enumerate(recs, 1):
            where = f"  (retrieved #{rec.retrieval_rank:<3})" if retrieved else ""
            line = f"{rank:>3}. {rec.item_id:<12} {rec.score:8.4f}{where}  {rec.title}"
            if rec.because:
                line += f"   because of {rec.because_title or rec.because} (-{rec.because_score:.3f} without it)"
            print(line.rstrip())


def _recommend_two_stage(args) -> None:
    from tfrec.events.recent import DEFAULT_HISTORY_LENGTH
    from tfrec.serving.two_stage import TwoStageRecommender, grpc_stages, two_stage

    if args.server:
        from tfrec.serving.saved_model_recommender import served_titles, titled

        versions = []
        with _serving_client(args) as client:
            stages = grpc_stages(client, retrieval_versions=versions)
            results = _ask(lambda users, histories=None: two_stage(*stages, users, args.k, args.candidates,
                                                                   histories=histories),
                           args, DEFAULT_HISTORY_LENGTH)
        named = {item for recs in results for rec in recs for item in (rec.item_id, rec.because) if item}
        titles, source = served_titles(args.titles, args.base, max(versions), named)
        results = titled(results, titles)
        print(f"retrieval top {args.candidates} (version {max(versions)}) + ranking (server {args.server}); "
              f"titles: {source}")
    else:
        recommender = TwoStageRecommender(args.base, args.version, args.ranking_version)
        print(f"retrieval version {recommender.retrieval.version}, ranking version {recommender.ranking_version}: "
              f"top {args.candidates} retrieved, ranked")
        length = max(recommender.retrieval.history_length, int(recommender.info.get("history_length", 0)))
        results = _ask(lambda users, histories=None: recommender.recommend(users, args.k, args.candidates,
                                                                           histories=histories), args, length)
    _print_recommendations(args, results, retrieved=True)


def cmd_recommend(args) -> None:
    _tensorflow_quietly()
    if args.two_stage:
        return _recommend_two_stage(args)
    if args.server:
        return _recommend_over_grpc(args)
    from tfrec.serving.saved_model_recommender import SavedModelRecommender

    recommender = SavedModelRecommender(args.base, args.version)
    print(f"retrieval model version {recommender.version} ({recommender.path})")
    results = _ask(lambda users, histories=None: recommender.recommend(users, args.k, histories),
                   args, recommender.history_length)
    _print_recommendations(args, results)


def _recommend_over_grpc(args) -> None:
    """The same table from a TF Serving (or ``tfrec serve``) server, titled from ``--titles`` or the
    answering version's export under ``--base`` (see ``served_titles``)."""
    from tfrec.events.recent import DEFAULT_HISTORY_LENGTH
    from tfrec.serving.saved_model_recommender import recommendations, served_titles, titled

    answered = []

    def ask(users, histories=None):
        outputs, version = client.retrieve(users, args.k, version=args.version, histories=histories)
        answered.append(version)
        return recommendations(outputs, {})

    with _serving_client(args) as client:
        results = _ask(ask, args, DEFAULT_HISTORY_LENGTH)
    version = max(answered)
    titles, source = served_titles(args.titles, args.base, version,
                                   {rec.item_id for recs in results for rec in recs})
    print(f"retrieval model version {version} (server {args.server}); titles: {source}")
    _print_recommendations(args, titled(results, titles))


def cmd_events_add(args) -> None:
    from tfrec.errors import ConfigError
    from tfrec.events import open_store
    from tfrec.events.ingest import add_file, add_stream, parse_event

    single = args.user is not None or args.item is not None or args.time is not None
    if single == bool(args.file):
        raise ConfigError("give one event (--user, --item, optionally --time) or --file FILE (- for stdin)")
    with open_store(args.store, keep=args.keep) as store:
        if single:
            event = parse_event({"user_id": args.user, "item_id": args.item, "timestamp": args.time},
                                "the command line")
            store.add_many([event])
            added, skipped = 1, 0
        elif args.file == "-":
            added, skipped = add_stream(store, skip_bad_rows=args.skip_bad_rows)
        else:
            added, skipped = add_file(store, args.file, skip_bad_rows=args.skip_bad_rows)
    print(f"added {added:,} event(s) to {args.store}" + (f"; skipped {skipped:,} bad row(s)" if skipped else ""))


def cmd_events_seed(args) -> None:
    from tfrec.events import open_store
    from tfrec.events.feedback import seed_from_run

    _finished_run(args.run)
    with open_store(args.store, keep=args.keep) as store:
        seed_from_run(store, args.run)


def cmd_events_show(args) -> None:
    from tfrec.events import open_store

    with open_store(args.store) as store:
        for user, items in store.latest(args.user, args.n).items():
            print(f"{user}: {' '.join(items) if items else '(no events)'}")


def cmd_serve(args) -> None:
    _tensorflow_quietly()
    from tfrec.serving.model_server import serve

    serve(args)


def add_serve_arguments(parser) -> None:
    """``tfrec serve``'s options; kept here so ``tfrec --help`` needs no TensorFlow import."""
    parser.add_argument("--base", help="model base path (every model folder is served; default saved_models); "
                                       "with --model-config-file: the folder its base paths must lie in "
                                       "(default: the config file's folder)")
    parser.add_argument("--model-config-file", help="text-format ModelServerConfig (models.config)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=_port, default=8500, help="gRPC port (0: any free port)")
    parser.add_argument("--rest-port", type=_port, default=None,
                        help="also serve TF Serving's REST API and /monitoring/prometheus/metrics on this port of "
                             "--host (plaintext; 0: any free port; default: no REST API)")
    parser.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions (0: never)")
    parser.add_argument("--max-message-mb", type=int, default=16, help="largest request/response message in MiB")
    parser.add_argument("--max-workers", type=int, default=8, help="request threads")
    parser.add_argument("--max-string-mb", type=float, default=4.0, help="largest string in a request tensor")
    parser.add_argument("--max-rows", type=int, default=10_000,
                        help="most rows (dimension 0) a request input may declare (default 10000)")
    parser.add_argument("--grace-seconds", type=float, default=5.0, help="time running requests get on shutdown")
    parser.add_argument("--tls-cert", help="PEM server certificate (chain): serve TLS only (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", help="PEM CA whose certificates clients must present (mutual TLS)")
    parser.add_argument("--enable-batching", action="store_true",
                        help="batch concurrent Predict requests per model and signature (as TF Serving's "
                             "--enable_batching); signatures with a scalar input run unbatched")
    parser.add_argument("--batching-parameters-file",
                        help="text-format BatchingParameters (batching_parameters.txt; default: TF Serving's "
                             "defaults); needs --enable-batching")
    parser.add_argument("--enable-serialization-as-tensor-content", action="store_true",
                        help="send response tensors as tensor_content bytes instead of the typed fields "
                             "(float_val, string_val, ...), as TF Serving's flag of the same name")
    parser.add_argument("--allow-version-labels-for-unavailable-models", action="store_true",
                        help="let models.config give a new version label to a version not loaded yet "
                             "(TF Serving's --allow_version_labels_for_unavailable_models); without it a label "
                             "must name a version already served, so labels at start-up are refused")


def cmd_data_download(args) -> None:
    from tfrec.data.download import DEFAULT_URL, download_movielens_100k

    path = download_movielens_100k(args.dest, url=args.url or DEFAULT_URL)
    print(f"MovieLens 100K downloaded and checked: {path}")


def cmd_data_shard(args) -> None:
    from tfrec.config import load_config

    config = load_config(args.config)
    _tensorflow_quietly()
    from tfrec.data.shard_writer import write_sharded

    manifest = write_sharded(config.data, args.out, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                             shard_size=args.shard_size)
    counts = manifest["counts"]
    print(f"{args.out}: {manifest['num_interactions']:,} interactions ({counts['train']:,} train, {counts['val']:,} "
          f"validation, {counts['test']:,} test) in {sum(len(v) for v in manifest['shards'].values())} shard(s), "
          f"{manifest['num_users']:,} users, {manifest['num_items']:,} items; train on it with data.source: sharded, "
          f"data.path: {args.out}")


def cmd_data_check(args) -> None:
    from tfrec.config import load_config
    from tfrec.data.sources import load_dataset

    overrides = {"data.skip_bad_rows": True} if args.skip_bad_rows else {}
    config = load_config(args.config, overrides=overrides)
    if config.data.sharded:
        from tfrec.data.sharded import ShardedDataset

        data = ShardedDataset.open(config.data.path)
        split = data.manifest["split"]
        print(f"{data.name} (sharded, {data.folder}): {data.manifest['num_interactions']:,} interactions, "
              f"{data.manifest['num_users']:,} users, {data.manifest['num_items']:,} items; split by time: "
              f"validation from {split['val_start']}, test from {split['test_start']}; "
              + ", ".join(f"{part} {data.count(part):,} in {len(data.shards(part))} shard(s)"
                          for part in ("train", "val", "test")))
        return
    from tfrec.data.check import check_report

    dataset, report = load_dataset(config.data)
    print(check_report(config, dataset, report))


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes are one line too (the usage is one ``--help`` away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tfrec", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train the retrieval model of a config (rerun an interrupted run to resume it)")
    p.add_argument("--config", help="YAML config (see pipelines/configs/); with --warm-start, default: that run's")
    p.add_argument("--run", required=True, help="run folder to write")
    p.add_argument("--warm-start", metavar="RUN", help="continue from a trained run's weights, growing its "
                                                        "vocabularies for new users and items")
    p.add_argument("--data", metavar="PATH", help="the data to train on (sets data.path), e.g. new interactions")
    p.add_argument("--events", metavar="STORE", help="an event store whose events join the data (sets data.events): "
                                                     "the feedback gathered since the run being warm-started")
    p.add_argument("--export", metavar="BASE", help="after training, export a new version into this model base path")
    p.add_argument("--serving-base", help="with --export: the base path as TF Serving sees it, for models.config "
                                          "(e.g. /models inside the tensorflow/serving container)")
    p.add_argument("--set", action="append", type=_parse_override, metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count bad input rows instead of failing")
    p.add_argument("--overwrite", action="store_true", help="replace a finished (or restart an interrupted) run "
                                                            "in --run instead of refusing")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="full-ranking test metrics of a run, with the popularity baseline")
    p.add_argument("--run", required=True)
    p.add_argument("--baselines", metavar="NAMES", help="also fit these baselines on the run's training split and "
                                                         "rank them alike, comma-separated: ease, ials, tfrs-tutorial")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a run as a TF Serving SavedModel version")
    p.add_argument("--run", required=True)
    p.add_argument("--base", default="saved_models", help="TF Serving model base path")
    p.add_argument("--version", type=_positive_int, help="version number (default: next free integer)")
    p.add_argument("--max-k", type=_positive_int, help="largest k a request may ask for")
    p.add_argument("--serving-base", help="the base path as TF Serving sees it, for models.config "
                                          "(e.g. /models inside the tensorflow/serving container)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("recommend", help="top-k items for users from the exported model")
    p.add_argument("--user", required=True, action="append", help="user id (repeatable)")
    p.add_argument("--k", type=_positive_int, default=10)
    p.add_argument("--base", default="saved_models")
    p.add_argument("--version", type=_positive_int, help="model version (default: newest)")
    p.add_argument("--server", metavar="HOST:PORT", help="ask a TF Serving gRPC server instead of loading --base")
    p.add_argument("--titles", metavar="FILE", help="with --server: item titles, the export's "
                   "assets.extra/items.json or its version folder (default: the answering version under --base "
                   "when this machine has it, else ids only)")
    p.add_argument("--timeout", type=_positive_float, default=10.0, help="gRPC deadline in seconds (with --server)")
    p.add_argument("--tls-ca", help="PEM file of the CA the server's certificate must chain to (TLS)")
    p.add_argument("--tls-cert", help="PEM client certificate (mutual TLS; with --tls-key and --tls-ca)")
    p.add_argument("--tls-key", help="PEM client private key (mutual TLS)")
    p.add_argument("--two-stage", action="store_true",
                   help="retrieve --candidates items, rank them with the ranking model, print the top --k")
    p.add_argument("--candidates", type=_positive_int, default=100, help="items retrieved for ranking (with --two-stage)")
    p.add_argument("--ranking-version", type=_positive_int, help="ranking model version (default: newest)")
    p.add_argument("--events", metavar="STORE", help="event store (SQLite file or redis:// URL): users with events "
                                                     "there are recommended from their latest items")
    p.add_argument("--history-length", type=_positive_int,
                   help="latest events sent per user (default: the model's history length; 50 with --server)")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("train-ranking", help="train the ranking model of a config")
    p.add_argument("--config", required=True, help="YAML ranking config (see pipelines/configs/ranking_*.yaml)")
    p.add_argument("--run", required=True, help="run folder to write")
    p.add_argument("--set", action="append", type=_parse_override, metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=3")
    p.add_argument("--overwrite", action="store_true", help="replace a finished (or restart an interrupted) run")
    p.set_defaults(func=cmd_train_ranking)

    p = sub.add_parser("evaluate-ranking",
                       help="test RMSE/AUC of a ranking run, and two-stage vs retrieval-only full ranking")
    p.add_argument("--run", required=True)
    p.add_argument("--retrieval-run", help="retrieval run of the same split for the two-stage table "
                                           "(default: the run's candidates.retrieval_run)")
    p.add_argument("--candidates", type=_positive_int, help="items retrieved for ranking (default: candidates.k)")
    p.set_defaults(func=cmd_evaluate_ranking)

    p = sub.add_parser("export-ranking", help="export a ranking run as a TF Serving SavedModel version")
    p.add_argument("--run", required=True)
    p.add_argument("--base", default="saved_models", help="TF Serving model base path")
    p.add_argument("--version", type=_positive_int, help="version number (default: next free integer)")
    p.add_argument("--serving-base", help="the base path as TF Serving sees it, for models.config")
    p.set_defaults(func=cmd_export_ranking)

    p = sub.add_parser("tensorboard", help="TensorBoard on a run's tensorboard/ folder (localhost by default)")
    p.add_argument("--run", required=True)
    p.add_argument("--port", type=_port, default=6006, help="HTTP port (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.set_defaults(func=cmd_tensorboard)

    p = sub.add_parser("serve", help="development gRPC model server (TF Serving's protocol) for a base path")
    add_serve_arguments(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("report", help="plots and a Markdown summary of a trained, evaluated run")
    p.add_argument("--run", required=True)
    p.add_argument("--latency", help="JSON of latency against corpus size (from benchmarks/serving.py)")
    p.set_defaults(func=cmd_report)

    index = sub.add_parser("index", help="retrieval index tools").add_subparsers(dest="index_command", required=True)
    p = index.add_parser("add", help="embed new items from their content and export a retrieval version with them")
    p.add_argument("--run", required=True, help="the trained run whose towers embed the items")
    p.add_argument("--items", required=True, help="CSV/Parquet: item_id, title, text, image_path, categorical columns")
    p.add_argument("--base", default="saved_models")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.add_argument("--max-k", type=_positive_int, help="largest k a request may ask for (default: the run's)")
    p.set_defaults(func=cmd_index_add)

    from tfrec.events.store import DEFAULT_KEEP

    keep_help = f"events kept per user, the latest (default {DEFAULT_KEEP}: more than any model reads)"
    events = sub.add_parser("events", help="the event store: users' latest interactions, read by recommend").\
        add_subparsers(dest="events_command", required=True)
    p = events.add_parser("add", help="record events: one (--user, --item, --time) or a CSV/JSON-lines file or stdin")
    p.add_argument("--store", required=True, help="SQLite file (made if missing) or redis://HOST:PORT/DB")
    p.add_argument("--user", help="user id of one event")
    p.add_argument("--item", help="item id of one event")
    p.add_argument("--time", help="Unix seconds of one event (default: now)")
    p.add_argument("--file", help="CSV (user_id,item_id[,timestamp] header) or JSON lines; - reads stdin as it "
                                  "arrives")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count bad rows instead of failing")
    p.add_argument("--keep", type=_positive_int, default=DEFAULT_KEEP, help=keep_help)
    p.set_defaults(func=cmd_events_add)
    p = events.add_parser("seed", help="put each user's latest interactions of a trained run into the store")
    p.add_argument("--store", required=True)
    p.add_argument("--run", required=True, help="a trained run folder")
    p.add_argument("--keep", type=_positive_int, default=DEFAULT_KEEP, help=keep_help)
    p.set_defaults(func=cmd_events_seed)
    p = events.add_parser("show", help="the latest events of users")
    p.add_argument("--store", required=True)
    p.add_argument("--user", required=True, action="append", help="user id (repeatable)")
    p.add_argument("--n", type=_positive_int, default=20, help="events per user (default 20)")
    p.set_defaults(func=cmd_events_show)

    data = sub.add_parser("data", help="data set tools").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("download", help="download a public data set (checksums checked)")
    p.add_argument("dataset", choices=["movielens-100k"])
    p.add_argument("--dest", required=True, help="folder to put ml-100k/ into (made if missing; nothing else in it "
                                                "is touched)")
    p.add_argument("--url", help="alternative download address")
    p.set_defaults(func=cmd_data_download)
    p = data.add_parser("shard", help="write the data of a config as a sharded data set: TFRecord shards split by "
                                      "time, for data larger than memory (data.source: sharded)")
    p.add_argument("--config", required=True, help="a config whose data section names the source")
    p.add_argument("--out", required=True, help="the new folder to write")
    p.add_argument("--val-fraction", type=_number(float, 0, 1, above=True), default=0.05,
                   help="share of interactions, the latest but the test ones, in validation (default 0.05)")
    p.add_argument("--test-fraction", type=_number(float, 0, 1, above=True), default=0.05,
                   help="share of interactions, the latest, in test (default 0.05)")
    p.add_argument("--shard-size", type=_positive_int, default=1_000_000, help="interactions per shard")
    p.set_defaults(func=cmd_data_shard)
    p = data.add_parser("check", help="load and validate the data of a config, print the report")
    p.add_argument("--config", required=True)
    p.add_argument("--skip-bad-rows", action="store_true")
    p.set_defaults(func=cmd_data_check)
    return parser


# Commands that resume when rerun after an interruption: SIGTERM and SIGINT end them with one line.
RESUMABLE = ("train", "train-ranking")


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: the command stops where it is (a training's backup stays for the rerun)."""

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop_on_signals() -> None:
    """SIGTERM (a scheduler, ``kill``) unwinds like Ctrl-C, so locks are released and the claim stays resumable."""
    import signal

    def stop(signum, frame):
        raise Interrupted(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)


def main(argv=None) -> int:
    """Runs one ``tfrec`` command; a user error is one line on stderr and status 2; an interrupted training
    one line and status 128 + the signal's number."""
    args = build_parser().parse_args(argv)
    if args.command in RESUMABLE:
        _stop_on_signals()
    try:
        args.func(args)
    except Interrupted as e:
        print(f"tfrec {args.command}: interrupted ({e}); the run {args.run} keeps what it finished: "
              "rerun the same command to resume", file=sys.stderr)
        return 128 + e.signum
    except Exception as e:  # noqa: BLE001  (user errors become one line; anything else is re-raised)
        error = user_error(e)
        if error is None:
            raise
        command = " ".join(filter(None, (args.command, getattr(args, "index_command", None),
                                         getattr(args, "data_command", None),
                                         getattr(args, "events_command", None))))
        print(f"tfrec {command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    return 0


def user_error(error: BaseException):
    """The ``UserError`` that ``error`` is or stands for (a full disk, a missing file), else None."""
    from tfrec.errors import UserError, storage_error, tensorflow_storage_error

    if isinstance(error, UserError):
        return error
    if isinstance(error, OSError):
        return storage_error(error)
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is not None and isinstance(error, tensorflow.errors.OpError):
        return tensorflow_storage_error(error)
    return None


if __name__ == "__main__":
    sys.exit(main())
