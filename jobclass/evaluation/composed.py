"""The synthetic benchmarks: "composed-postings" and "ad-titles".

For each occupation with held-out material, one posting is composed from a worker-reported
title, the occupation's held-out task statements (split off by a hash of the task id, never
trained on or indexed) and a layer of realistic job-board noise. It is synthetic: it measures
whether the body adds information, not accuracy on real postings.

"ad-titles" dresses each reported title the way job ads do (a location, pay, schedule, work
arrangement, requisition number, seniority or level, hiring call), to measure what that costs.
"""

from __future__ import annotations

import pandas as pd

from jobclass.evaluation.benchmark import Benchmark, make_benchmark
from jobclass.hashing import bucket
from jobclass.onet.corpus import is_held_out_task
from jobclass.onet.taxonomy import Taxonomy

COMPANY_BLURBS = [
    "We are a leading provider of services across the region with over 40 years of experience.",
    "Join our growing team and make a difference in the communities we serve.",
    "Our company is a fast-growing organization committed to excellence and innovation.",
    "About us: we are a family-owned business that values integrity and teamwork.",
]
BENEFITS = [
    "Benefits include medical, dental and vision insurance, 401(k) with match and paid time off.",
    "We offer competitive pay, tuition reimbursement and an employee assistance program.",
    "Full benefits package including health insurance and retirement plan.",
]
EQUAL_OPPORTUNITY = [
    "We are an equal opportunity employer and consider all applicants without regard to race, color, religion, sex or national origin.",
    "EOE/AA. Reasonable accommodations are available for qualified individuals with disabilities.",
]
LOCATIONS = ["Location: Springfield, IL.", "Location: Austin, TX (on-site).", "Location: Remote within the US."]
SALARIES = ["Salary: $45,000 - $60,000 per year.", "Pay: $22.50 per hour.", "Compensation: $85k-$110k DOE."]
CLOSERS = ["Apply now!", "Click apply to submit your resume today.", "Interested candidates should apply online."]


def _pick(options: list[str], key: str) -> str:
    return options[bucket(key, len(options))]


def compose_postings(name: str, titles: pd.Series, tasks: pd.Series, max_tasks: int = 3) -> Benchmark:
    """One posting per code present in both ``titles`` and ``tasks`` (Series of text indexed by code)."""
    titles_by_code = titles.groupby(level=0).apply(list)
    tasks_by_code = tasks.groupby(level=0).apply(list)
    rows = []
    for code in sorted(set(tasks_by_code.index) & set(titles_by_code.index)):
        title = _pick(titles_by_code[code], f"title:{code}")
        body = " ".join(
            [
                _pick(COMPANY_BLURBS, f"blurb:{code}"),
                _pick(LOCATIONS, f"loc:{code}"),
                "Responsibilities:",
                *[t.rstrip(".") + "." for t in tasks_by_code[code][:max_tasks]],
                _pick(BENEFITS, f"ben:{code}"),
                _pick(SALARIES, f"sal:{code}"),
                _pick(EQUAL_OPPORTUNITY, f"eeo:{code}"),
                _pick(CLOSERS, f"close:{code}"),
            ]
        )
        rows.append({"title": title, "body": body, "code": code})
    return make_benchmark(name, pd.DataFrame(rows, columns=["title", "body", "code"]))


def composed_postings(taxonomy: Taxonomy) -> Benchmark:
    """The frozen benchmark: reported titles with held-out tasks."""
    held = taxonomy.tasks[taxonomy.tasks["task_id"].map(is_held_out_task)]
    reported = taxonomy.reported_titles
    return compose_postings(
        "composed-postings",
        pd.Series(reported["reported_title"].to_numpy(), index=reported["code"]),
        pd.Series(held["task"].to_numpy(), index=held["code"]),
    )


def validation_postings(corpus: pd.DataFrame) -> Benchmark:
    """Postings composed from the corpus's validation titles and validation tasks."""
    val = corpus[corpus["split"] == "validation"]
    titles = val[val["kind"] == "title"]
    tasks = val[val["source"] == "task"]
    return compose_postings(
        "validation-postings",
        pd.Series(titles["text"].to_numpy(), index=titles["code"]),
        pd.Series(tasks["text"].to_numpy(), index=tasks["code"]),
    )


AD_PREFIXES = ["", "", "", "Sr. ", "Now Hiring: ", "URGENT: "]
AD_SUFFIXES = [
    " - Springfield, IL", " - Austin, TX", " (Remote)", " - Hybrid", " - $22/hr", " - Up to $85,000/yr",
    " - $5,000 Sign-On Bonus", " - Full Time", " - Night Shift", " (Part-Time)", " #R10442", " (m/w/d)", " II",
    " | Full-Time | Benefits", " - Req 2231", " - Days, M-F",
]


def ad_titles(taxonomy: Taxonomy) -> Benchmark:
    """The frozen benchmark: every reported title with a hash-chosen prefix and two ad suffixes."""
    rows = []
    for code, title in zip(taxonomy.reported_titles["code"], taxonomy.reported_titles["reported_title"]):
        key = f"{code}:{title}"
        first = bucket(f"ad1:{key}", len(AD_SUFFIXES))
        second = (first + 1 + bucket(f"ad2:{key}", len(AD_SUFFIXES) - 1)) % len(AD_SUFFIXES)
        dressed = _pick(AD_PREFIXES, f"adp:{key}") + title + AD_SUFFIXES[first] + AD_SUFFIXES[second]
        rows.append({"title": dressed, "body": "", "code": code})
    return make_benchmark("ad-titles", pd.DataFrame(rows, columns=["title", "body", "code"]))
