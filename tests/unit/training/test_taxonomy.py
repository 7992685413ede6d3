"""The vendored O*NET 29.3 tables load into a complete, consistent label space."""

import pandas as pd

from jobclass.evaluation.composed import composed_postings
from jobclass.evaluation.sets import excluded_titles, reported_titles
from jobclass.model.cleaning import clean_title, normalize_title
from jobclass.onet.corpus import build_corpus, contrastive_pairs, is_held_out_task, read_labelled_postings
from jobclass.paths import ONET_DIR


def test_label_space_has_1016_codes(taxonomy):
    assert len(taxonomy) == 1016
    assert taxonomy.codes == sorted(taxonomy.codes)
    assert taxonomy.occupations["code"].str.fullmatch(r"\d\d-\d{4}\.\d\d").all()
    assert taxonomy.index_of["15-1252.00"] == taxonomy.codes.index("15-1252.00")
    assert taxonomy.title_of["15-1252.00"] == "Software Developers"


def test_every_alternate_title_maps_to_a_code(taxonomy):
    alt = taxonomy.alternate_titles
    assert len(alt) == 56_560
    assert alt["code"].isin(taxonomy.index_of).all()
    assert set(alt["code"]) == set(taxonomy.codes)


def test_views_per_code(taxonomy):
    occ = taxonomy.occupations
    assert (occ["soc6"] == occ["code"].str[:7]).all()
    assert (occ["major_group"] == occ["code"].str[:2]).all()
    assert occ["job_zone"].notna().sum() == 923
    assert taxonomy.tasks["code"].nunique() == 923
    assert len(taxonomy.tasks) == 18_796


def test_attribution_is_vendored():
    notice = (ONET_DIR / "NOTICE.md").read_text()
    assert "CC BY 4.0" in notice and "USDOL/ETA" in notice


def test_reported_titles_benchmark_is_frozen(taxonomy):
    bench = reported_titles(taxonomy)
    assert len(bench) == 7796
    assert bench.frame["code"].nunique() == 901
    assert bench.content_hash == reported_titles(taxonomy).content_hash


def test_corpus_has_no_benchmark_title(taxonomy):
    excluded = excluded_titles(taxonomy)
    corpus = build_corpus(taxonomy, excluded)
    titles = corpus[corpus["kind"] == "title"]
    assert not titles["text"].map(normalize_title).isin(excluded).any()
    assert set(corpus["code"]) == set(taxonomy.codes)  # every code keeps examples
    assert {"train", "validation"} == set(corpus["split"])
    assert not (set(corpus.loc[corpus.split == "train", "text"]) & set(corpus.loc[corpus.split == "validation", "text"]))


def test_field_titles_are_those_from_incumbents_or_job_postings(taxonomy):
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy))
    field = corpus[corpus["field_title"]]
    assert set(field["source"]) <= {"alternate_title", "short_title"}
    alt = taxonomy.alternate_titles
    field_alt = alt[alt["sources"].str.contains(r"\b(?:02|10)\b")]
    assert set(field.loc[field["source"] == "alternate_title", "text"]) <= set(field_alt["alternate_title"].map(clean_title))
    assert 0.1 < corpus.loc[corpus["kind"] == "title", "field_title"].mean() < 0.5


def test_composed_postings_use_held_out_tasks_only(taxonomy):
    bench = composed_postings(taxonomy)
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy))
    assert len(bench) > 500
    first_task = bench.frame["body"].iloc[0].split("Responsibilities: ")[1].split(".")[0]
    assert not corpus["text"].str.contains(normalize_title(first_task), regex=False).any()


def test_fine_tuning_sees_training_tasks_but_no_validation_or_benchmark_task(taxonomy):
    from jobclass.training.config import TrainConfig
    from jobclass.training.finetune import proxy_training_rows

    corpus = build_corpus(taxonomy, excluded_titles(taxonomy))
    rows = proxy_training_rows(TrainConfig(), corpus)
    tasks = rows[rows["source"] == "task"]
    assert len(tasks) > 10_000 and (tasks["split"] == "train").all()
    validation_tasks = set(corpus.loc[(corpus["source"] == "task") & (corpus["split"] == "validation"), "text"])
    assert validation_tasks and not validation_tasks & set(tasks["text"])
    held_out = taxonomy.tasks[taxonomy.tasks["task_id"].map(is_held_out_task)]
    held_out_pairs = set(zip(held_out["task"].map(normalize_title), held_out["code"]))
    assert len(held_out_pairs) > 1000 and not held_out_pairs & set(zip(tasks["text"], tasks["code"]))


def test_contrastive_pairs_have_hard_negatives(taxonomy):
    corpus = build_corpus(taxonomy, excluded_titles(taxonomy))
    pairs = contrastive_pairs(corpus, taxonomy, max_pairs=2000)
    assert len(pairs) == 2000
    assert (pairs["positive"] != pairs["negative"]).all()
    assert pairs["positive"].nunique() > 900  # every occupation covered first


def test_labelled_postings_accept_seed_columns(tmp_path):
    seed = tmp_path / "seed.csv"
    seed.write_text("TITLE_RAW,BODY,ONET,ONET_NAME\nData Wrangler,Clean data,15-2051.00,Data Scientists\n")
    ours = tmp_path / "ours.csv"
    ours.write_text("title,body,onet_code\nData Wrangler,Clean data,15-2051.00\n,,\n")
    for path in (seed, ours):
        frame = read_labelled_postings(path)
        assert frame.to_dict("records") == [{"title": "Data Wrangler", "body": "Clean data", "onet_code": "15-2051.00"}]


def test_labelled_postings_are_read_as_the_classifier_reads_them(taxonomy):
    labelled = pd.DataFrame(
        {
            "title": ["Tax Preparer Seasonal", "Tax Preparer Year Round"],
            "body": ["Prepare tax returns for clients.", "Click the button to view eligibilities."],
            "onet_code": ["13-2082.00", "13-2082.00"],
        }
    )
    corpus = build_corpus(taxonomy, set(), labelled)
    texts = set(corpus.loc[corpus["source"] == "labelled", "text"])
    assert texts == {f"{clean_title('Tax Preparer Seasonal')}. prepare tax returns clients", clean_title("Tax Preparer Year Round")}
