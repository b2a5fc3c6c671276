"""events/env.json as a KEY=VALUE file for `cargo lambda watch --env-file`: the variables one function gets under
`sam local` (Parameters, then its own section), with make dev's stand-ins reached on loopback rather than from a
container. Usage: scripts/watch_env.py get-product > target/watch.env"""

import json
import sys
from pathlib import Path


def logical_id(function: str) -> str:
    """get-product -> GetProductFunction, as template.yaml names it."""
    return "".join(part.capitalize() for part in function.split("-")) + "Function"


def main() -> None:
    function = sys.argv[1]
    env = json.loads((Path(__file__).parent.parent / "events" / "env.json").read_text())
    variables = {**env["Parameters"], **env.get(logical_id(function), {})}
    for name, value in variables.items():
        print(f"{name}={value.replace('host.docker.internal', '127.0.0.1')}")


if __name__ == "__main__":
    main()
