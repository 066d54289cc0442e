"""Prints the conformance table against a running server (see the package docstring)."""

import argparse

from tests.serving.conformance.case import Target, all_cases, markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.serving.conformance")
    parser.add_argument("--grpc", required=True, help="host:port of the gRPC API")
    parser.add_argument("--rest", help="http://host:port of the REST API (REST cases are left out without it)")
    parser.add_argument("--kind", default="dev", help="what the server is, for the cases that need to know")
    parser.add_argument("--base-path", help="the model's base_path as the server sees it (the reload cases "
                                            "reload a config serving it there)")
    args = parser.parse_args()
    target = Target(kind=args.kind, grpc=args.grpc, rest=args.rest, base_path=args.base_path)
    cases = [case for case in all_cases() if case.transport != "REST" or target.rest]
    print(markdown_table([(case, case.run(target)) for case in cases]))


if __name__ == "__main__":
    main()
