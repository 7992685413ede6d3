"""The O*NET-SOC 2019 taxonomy (O*NET 29.3), loaded from the vendored tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

from jobclass.paths import ONET_DIR

CODE = "O*NET-SOC Code"


@dataclass(frozen=True)
class Taxonomy:
    """One row per occupation (the label space, sorted by code) plus its text views.

    ``occupations`` columns: code, title, description, soc6, major_group, job_zone.
    ``alternate_titles``: code, alternate_title, short_title, sources (O*NET's comma-separated
    source codes: 02 is incumbent data, 10 employer job postings).
    ``tasks``: code, task_id, task, task_type.
    ``reported_titles``: code, reported_title.
    """

    occupations: pd.DataFrame
    alternate_titles: pd.DataFrame
    tasks: pd.DataFrame
    reported_titles: pd.DataFrame

    @cached_property
    def codes(self) -> list[str]:
        return self.occupations["code"].tolist()

    @cached_property
    def index_of(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.codes)}

    @cached_property
    def title_of(self) -> dict[str, str]:
        return dict(zip(self.occupations["code"], self.occupations["title"]))

    def __len__(self) -> int:
        return len(self.occupations)

    def labels_frame(self) -> pd.DataFrame:
        """The label index stored with a model: code, title, soc6, major_group."""
        return self.occupations[["code", "title", "soc6", "major_group"]].reset_index(drop=True)


def soc6_of(code: str) -> str:
    """``15-1252.00`` -> ``15-1252`` (the 6-digit SOC 2018 code)."""
    return code.split(".")[0]


def major_group_of(code: str) -> str:
    """``15-1252.00`` -> ``15`` (the SOC major group)."""
    return code[:2]


MAJOR_GROUP_NAMES: dict[str, str] = {
    "11": "Management",
    "13": "Business and Financial Operations",
    "15": "Computer and Mathematical",
    "17": "Architecture and Engineering",
    "19": "Life, Physical, and Social Science",
    "21": "Community and Social Service",
    "23": "Legal",
    "25": "Educational Instruction and Library",
    "27": "Arts, Design, Entertainment, Sports, and Media",
    "29": "Healthcare Practitioners and Technical",
    "31": "Healthcare Support",
    "33": "Protective Service",
    "35": "Food Preparation and Serving Related",
    "37": "Building and Grounds Cleaning and Maintenance",
    "39": "Personal Care and Service",
    "41": "Sales and Related",
    "43": "Office and Administrative Support",
    "45": "Farming, Fishing, and Forestry",
    "47": "Construction and Extraction",
    "49": "Installation, Maintenance, and Repair",
    "51": "Production",
    "53": "Transportation and Material Moving",
    "55": "Military Specific",
}


def _read(onet_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(onet_dir / name, sep="\t", dtype=str, keep_default_na=False)


def load_taxonomy(onet_dir: Path = ONET_DIR) -> Taxonomy:
    occ = _read(onet_dir, "occupation_data.txt.gz").rename(
        columns={CODE: "code", "Title": "title", "Description": "description"}
    )
    zones = _read(onet_dir, "job_zones.txt.gz").rename(columns={CODE: "code", "Job Zone": "job_zone"})
    occ = occ.merge(zones[["code", "job_zone"]], on="code", how="left")
    occ["job_zone"] = pd.to_numeric(occ["job_zone"], errors="coerce").astype("Int64")
    occ["soc6"] = occ["code"].map(soc6_of)
    occ["major_group"] = occ["code"].map(major_group_of)
    occ = occ.sort_values("code").reset_index(drop=True)[
        ["code", "title", "description", "soc6", "major_group", "job_zone"]
    ]

    alt = _read(onet_dir, "alternate_titles.txt.gz").rename(
        columns={CODE: "code", "Alternate Title": "alternate_title", "Short Title": "short_title", "Source(s)": "sources"}
    )[["code", "alternate_title", "short_title", "sources"]]
    alt["short_title"] = alt["short_title"].where(alt["short_title"] != "n/a", "")

    tasks = _read(onet_dir, "task_statements.txt.gz").rename(
        columns={CODE: "code", "Task ID": "task_id", "Task": "task", "Task Type": "task_type"}
    )[["code", "task_id", "task", "task_type"]]

    reported = _read(onet_dir, "sample_of_reported_titles.txt.gz").rename(
        columns={CODE: "code", "Reported Job Title": "reported_title"}
    )[["code", "reported_title"]]

    return Taxonomy(occupations=occ, alternate_titles=alt, tasks=tasks, reported_titles=reported)
