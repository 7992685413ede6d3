"""Write a ``.env`` for docker-compose.yaml with fresh random secrets (standard library only).

docker-compose.yaml has no default for any secret: it stops with the variable's name when one is
missing. This script generates every one of them once, so that nobody has to copy a secret from
the repository::

    python docker/make_env.py                 # .env with random secrets and a random admin password
    python docker/make_env.py --dev-logins    # local development only: the admin login is airflow / airflow

The file is written with mode 600 and is git-ignored. An existing file is never overwritten
without ``--force``: a new Fernet key cannot decrypt the connections stored with the old one, and
a new PostgreSQL password does not match an initialised database volume.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_LOGIN = ("airflow", "airflow")


def token() -> str:
    """A URL-safe random secret: safe inside the database URLs that embed POSTGRES_PASSWORD and
    JOBCLASS_DB_PASSWORD."""
    return secrets.token_urlsafe(32)


def fernet_key() -> str:
    """What ``cryptography.fernet.Fernet.generate_key()`` returns: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def airflow_uid() -> str:
    """The calling user's uid, so that files written to bind mounts are theirs; the image's 50000
    for root (Airflow's processes should not run as root) and where there are no uids."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return str(uid) if uid else "50000"


def environment(dev_logins: bool = False) -> dict[str, str]:
    """The variables docker-compose.yaml requires, freshly generated."""
    username, password = DEV_LOGIN if dev_logins else (DEV_LOGIN[0], token())
    return {
        "AIRFLOW_JWT_SECRET": token(),
        "AIRFLOW_API_SECRET_KEY": token(),
        "AIRFLOW_FERNET_KEY": fernet_key(),
        "POSTGRES_PASSWORD": token(),
        "JOBCLASS_DB_PASSWORD": token(),
        "_AIRFLOW_WWW_USER_USERNAME": username,
        "_AIRFLOW_WWW_USER_PASSWORD": password,
        "AIRFLOW_UID": airflow_uid(),
    }


def render(env: dict[str, str], dev_logins: bool) -> str:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"# Written by docker/make_env.py at {created}. Secrets: never commit this file or copy it to another host.",
    ]
    if dev_logins:
        lines.append("# DEVELOPMENT LOGINS: admin login airflow / airflow. Never publish this stack (JOBCLASS_BIND).")
    lines += [f"{key}={value}" for key, value in env.items()]
    return "\n".join(lines) + "\n"


def write_env(path: Path, dev_logins: bool = False, force: bool = False) -> dict[str, str]:
    """Write a fresh ``.env`` to ``path`` (mode 600) and return its variables."""
    if path.exists() and not force:
        raise FileExistsError(
            f"{path} exists; keep it (its Fernet key and database password are in use) or pass --force"
        )
    env = environment(dev_logins)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render(env, dev_logins))
    os.chmod(path, 0o600)  # also when --force replaced a file with looser permissions
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPO / ".env", help="where to write (default: .env)")
    parser.add_argument(
        "--dev-logins", action="store_true", help="local development only: admin login airflow / airflow"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    try:
        env = write_env(args.output, dev_logins=args.dev_logins, force=args.force)
    except FileExistsError as exc:
        print(f"make_env: {exc}", file=sys.stderr)
        return 1
    login = env["_AIRFLOW_WWW_USER_USERNAME"]
    where = f"{login} / {login} (development only)" if args.dev_logins else f"{login}, password in {args.output}"
    print(f"Wrote {args.output} (mode 600). Admin login: {where}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
