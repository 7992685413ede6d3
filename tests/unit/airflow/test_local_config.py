"""The local airflow.cfg (jobclass.airflow.local_config): what ``make main`` and ``make ui`` write."""

from __future__ import annotations

import configparser
from pathlib import Path

from jobclass.airflow.local_config import MARKER, write_local_config

REPO = Path(__file__).resolve().parents[3]


def _cfg(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    return parser


def test_the_default_cfg_an_older_make_main_left_is_replaced_keeping_its_fernet_key(tmp_path):
    cfg = tmp_path / "airflow.cfg"
    cfg.write_text(
        "[core]\n# The folder where your airflow pipelines live, most likely a\n"
        f"dags_folder = {tmp_path / 'dags'}\nload_examples = True\nfernet_key = kept-key\n",
        encoding="utf-8",
    )
    assert write_local_config(tmp_path, REPO)
    parser = _cfg(cfg)
    assert cfg.read_text(encoding="utf-8").startswith(MARKER)
    assert parser.get("core", "dags_folder") == str(REPO / "dags")
    assert parser.get("core", "load_examples") == "False"
    assert parser.get("core", "fernet_key") == "kept-key"


def test_a_cfg_edited_by_hand_is_left_alone(tmp_path):
    cfg = tmp_path / "airflow.cfg"
    text = "# mine\n[core]\ndags_folder = /somewhere/else\n"
    cfg.write_text(text, encoding="utf-8")
    assert not write_local_config(tmp_path, REPO)
    assert cfg.read_text(encoding="utf-8") == text
