"""The local Airflow's ``airflow.cfg`` (``make main``, ``make ui``): written by ``scripts/airflow_env.sh``.

The file is jobclass-managed while its first line is :data:`MARKER`: it is then rewritten on every
run (so it follows the checkout if it moves) and keeps its secrets. Delete that line to edit the file
by hand; from then on it is left alone. It points Airflow at the repository's ``dags/`` and
``plugins/``, loads no example DAGs, keeps the metadata database in ``AIRFLOW_HOME``, binds the API
server (UI) to loopback, and logs in with the simple auth manager (user ``admin``; its password is
generated into ``AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``).

Run as ``python -m jobclass.airflow.local_config AIRFLOW_HOME REPO``; no Airflow import.
"""

from __future__ import annotations

import base64
import configparser
import os
import secrets
import sys
from pathlib import Path

MARKER = "# jobclass-managed airflow.cfg"
HOST, PORT = "127.0.0.1", 8080
USERS = "admin:admin"
_SECRETS = {("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret")}


#: How the airflow.cfg that Airflow itself generates begins (an earlier ``make main`` left one, pointing
#: at ``AIRFLOW_HOME/dags`` with the examples on): it is replaced, keeping its secrets.
AIRFLOW_DEFAULT_START = ("[core]", "# The folder where your airflow pipelines live")


def is_managed(path: Path) -> bool:
    """True when ``path`` is absent, starts with :data:`MARKER`, or is Airflow's untouched default."""
    if not path.exists():
        return True
    with path.open(encoding="utf-8") as handle:
        first, second = handle.readline(), handle.readline()
    return first.startswith(MARKER) or (first.strip() == AIRFLOW_DEFAULT_START[0] and second.startswith(AIRFLOW_DEFAULT_START[1]))


def _new_secret(section: str) -> str:
    if section == "core":  # a Fernet key: 32 url-safe base64 bytes
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return secrets.token_urlsafe(32)


def _kept_secrets(path: Path) -> dict[tuple[str, str], str]:
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read(path, encoding="utf-8")
    return {key: parser.get(*key, fallback="") or _new_secret(key[0]) for key in sorted(_SECRETS)}


def _value(text: str | Path) -> str:
    return str(text).replace("%", "%%")  # Airflow interpolates %(...)s in its config


def render(airflow_home: Path, repo: Path, kept: dict[tuple[str, str], str]) -> str:
    sections = {
        "core": {
            "dags_folder": _value(repo / "dags"),
            "plugins_folder": _value(repo / "plugins"),
            "load_examples": "False",
            "executor": "LocalExecutor",
            "parallelism": "4",  # task processes at once: a laptop's, not a cluster's (Airflow's default is 32)
            "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "simple_auth_manager_users": USERS,
            "simple_auth_manager_all_admins": "False",
            "fernet_key": kept[("core", "fernet_key")],
        },
        "database": {"sql_alchemy_conn": _value(f"sqlite:///{airflow_home / 'airflow.db'}")},
        "api": {"host": HOST, "port": str(PORT), "workers": "1", "secret_key": kept[("api", "secret_key")]},
        "api_auth": {"jwt_secret": kept[("api_auth", "jwt_secret")]},
    }
    lines = [
        f"{MARKER}: written by scripts/airflow_env.sh on every `make main` / `make ui`.",
        "# Delete the line above to keep your own edits: the scripts then leave this file alone.",
        "# Every other option keeps Airflow's default (`airflow config list --defaults`).",
    ]
    for name, options in sections.items():
        lines += ["", f"[{name}]", *(f"{key} = {value}" for key, value in options.items())]
    return "\n".join(lines) + "\n"


def write_local_config(airflow_home: Path, repo: Path) -> bool:
    """Write ``airflow_home/airflow.cfg`` if it is jobclass-managed; True if written."""
    path = airflow_home / "airflow.cfg"
    if not is_managed(path):
        return False
    airflow_home.mkdir(parents=True, exist_ok=True)
    text = render(airflow_home.resolve(), repo.resolve(), _kept_secrets(path))
    tmp = path.with_suffix(".cfg.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)  # it holds the secrets
    tmp.replace(path)
    return True


def main(argv: list[str]) -> int:
    airflow_home, repo = Path(argv[0]), Path(argv[1])
    if write_local_config(airflow_home, repo):
        print(f"==> {airflow_home / 'airflow.cfg'}: jobclass DAGs and plugin from {repo}, no examples")
    else:
        print(f"==> {airflow_home / 'airflow.cfg'} was edited by hand (no '{MARKER}' line): left as it is")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
