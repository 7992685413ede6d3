"""Table-driven cases for turning raw postings into encoder input."""

import pytest

from jobclass.model.cleaning import (
    DUTY_SENTENCE_SCORE,
    clean_body,
    clean_title,
    compose_input,
    is_boilerplate,
    is_duty_verb,
    normalize_title,
    repair_text,
    select_body_words,
    stop_words,
    strip_ad_decorations,
    words,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Registered Nurse - ICU", "registered nurse icu"),
        ("SENIOR SOFTWARE ENGINEER", "senior software engineer"),
        ("<b>Line</b> Cook &amp; Prep", "line cook prep"),
        ("Dev (C++/C#) 2nd shift", "dev c++ c#"),
        ("Café Manager", "cafe manager"),
        ("Director of Operations", "director of operations"),  # title kept in full: no stop-word removal
        ("Driver — call 555-123-4567", "driver call"),
        ("Recruiter jobs@example.com", "recruiter"),
        ("Analyst https://example.com/jobs/1", "analyst"),
        ("", ""),
        (None, ""),
        ("CafÃ© Manager", "cafe manager"),  # mojibake repaired
    ],
)
def test_clean_title(raw, expected):
    assert clean_title(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Registered Nurse - ICU - $5,000 Sign-On Bonus!", "registered nurse icu"),
        ("Software Engineer III (Remote)", "software engineer"),
        ("Sr. Accountant | Hybrid | Chicago, IL", "senior accountant"),
        ("URGENT HIRING: Warehouse Associate 1st Shift $18/hr", "warehouse associate"),
        ("Forklift Operator - 2nd Shift - $19/hr + Benefits", "forklift operator"),
        ("CDL-A Truck Driver - Home Weekly - Up to $1,800/wk", "cdl a truck driver"),
        ("Nurse Practitioner in Austin, TX", "nurse practitioner"),
        ("Java Developer (m/w/d)", "java developer"),
        ("Rental Counter Clerk #R10442 | Full-Time | Benefits", "rental counter clerk"),
        ("Accountant - Req #12345", "accountant"),
        ("Now Hiring: Line Cook", "line cook"),
        ("Dir. of Mktg", "director of marketing"),
        ("Dental Assistant *Sign On Bonus*", "dental assistant"),
        ("Certified Nursing Assistant (CNA) - FT/PT - All Shifts", "certified nursing assistant cna"),
        ("Delivery Driver - Earn up to $25/hr + Tips", "delivery driver"),
        ("Data Analyst (Contract, 6 months)", "data analyst"),
        ("Line Cook - NOW HIRING - Weekly Pay", "line cook"),
        ("Senior Accountant - CPA Preferred", "senior accountant"),
        ("Electrician Apprentice - No Experience Needed", "electrician apprentice"),
        ("Medical Assistant - Pediatrics - Entry Level", "medical assistant pediatrics"),
        ("Teacher - 3rd Grade - 2025-2026 School Year", "teacher rd grade"),
        ("Software Developer - Java/Spring - 100% Remote", "software developer java spring"),
        ("Sr. Software Engineer, Platform - Remote US", "senior software engineer platform"),
        # decorations are removed only where ads put them: these words belong to the title
        ("Shift Supervisor", "shift supervisor"),
        ("Remote Sensing Analyst", "remote sensing analyst"),
        ("Urgent Care Physician", "urgent care physician"),
        ("Psychiatric Technician (PT)", "psychiatric technician pt"),
        ("Police Commanding Officer (Police CO)", "police commanding officer police co"),
        ("Contract Specialist - Contract Management", "contract specialist contract management"),
        ("Part Time Flexible Clerk (PTF Clerk)", "part time flexible clerk ptf clerk"),
        ("Travel Nurse - 13 Weeks", "travel nurse"),
        ("Remote", "remote"),  # never strip a title to nothing
    ],
)
def test_clean_title_drops_ad_decorations(raw, expected):
    assert clean_title(raw) == expected


def test_onet_titles_lose_no_words_to_the_decoration_rules(taxonomy):
    alt = taxonomy.alternate_titles
    titles = set(alt["alternate_title"]) | set(alt["short_title"]) - {""} | set(taxonomy.occupations["title"])
    titles |= set(taxonomy.reported_titles["reported_title"])
    changed = [t for t in titles if words(strip_ad_decorations(t), False) != words(t, False)]
    assert changed == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<p>Provide patient care.</p>", "provide patient care"),
        ("Monitor the vital signs of 12 patients.", "monitor vital signs patients"),
        ("Repair computer systems and fire alarms.", "repair computer systems fire alarms"),  # domain words kept
        ("<script>alert(1)</script>Drive trucks.", "drive trucks"),
        ("Visit www.example.com or email hr@example.com. Drive trucks.", "drive trucks"),
        ("Apply now! Drive trucks.", "drive trucks"),
        ("Salary: $50,000 per year. Drive trucks.", "drive trucks"),
        ("We are an equal opportunity employer. Drive trucks.", "drive trucks"),
        ("Benefits include dental insurance and 401(k). Drive trucks.", "drive trucks"),
        ("Join our growing team! Drive trucks.", "drive trucks"),
        ("&lt;b&gt;Bake bread&lt;/b&gt;", "bake bread"),
        ("   ", ""),
    ],
)
def test_clean_body(raw, expected):
    assert clean_body(raw) == expected


@pytest.mark.parametrize(
    ("sentence", "boilerplate"),
    [
        ("Apply today to join us", True),
        ("Pay: $22.50 per hour", True),
        ("EOE/AA employer", True),
        ("Reasonable accommodations are available", True),
        ("Paid time off and tuition reimbursement", True),
        ("Prepare financial statements", False),
        ("Operate forklifts in the warehouse", False),
    ],
)
def test_boilerplate(sentence, boilerplate):
    assert is_boilerplate(sentence) is boilerplate


def test_long_body_keeps_duty_sentences_first():
    filler = " ".join(f"Our company history paragraph number {i} is long and proud." for i in range(60))
    duty = "Develop software applications and maintain databases."
    kept = select_body_words(filler + " " + duty, max_words=20)
    assert len(kept) <= 20
    assert "develop" in kept and "databases" in kept


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Our agency is a great place to work. Prepare tax returns for clients.", "prepare tax returns clients"),
        ("We value teamwork. You will design data pipelines.", "design data pipelines"),  # a cue phrase
        ("The incumbent is responsible for budget formulation.", "incumbent responsible budget formulation"),
        ("Click the button to view eligibilities. Our mission is service.", ""),  # no duty sentence
    ],
)
def test_duty_gate_reads_duty_sentences_only(body, expected):
    assert clean_body(body, min_duty_score=DUTY_SENTENCE_SCORE) == expected


@pytest.mark.parametrize(
    ("token", "verb"),
    [
        ("prepare", True), ("prepares", True), ("preparing", True), ("teaches", True), ("studies", True),
        ("running", True), ("manages", True), ("management", False), ("during", False), ("skills", False),
        ("located", False), ("business", False),
    ],
)
def test_duty_verbs_in_their_inflected_forms(token, verb):
    assert is_duty_verb(token) is verb


def test_third_person_and_ing_duties_pass_the_gate():
    body = "Manages client accounts. Preparing monthly reports. Strong communication skills."
    assert clean_body(body, min_duty_score=DUTY_SENTENCE_SCORE) == "manages client accounts preparing monthly reports"


def test_duty_gate_is_off_by_default():
    assert clean_body("The office serves veterans nationwide.") == "office serves veterans nationwide"


def test_compose_keeps_the_whole_title():
    title = "Senior Principal Staff Machine Learning Infrastructure Engineer Team Lead"
    composed = compose_input(title, "Build pipelines. " * 500, max_body_words=10)
    assert composed.startswith(clean_title(title) + ". ")
    assert len(composed.split()) <= len(title.split()) + 10


@pytest.mark.parametrize(
    ("a", "b"),
    [("Software Engineer", "software-engineer"), ("R.N.", "r n"), ("Café", "cafe"), ("  Cook ", "COOK")],
)
def test_normalize_title_equates(a, b):
    assert normalize_title(a) == normalize_title(b)


def test_repair_text_handles_bytes_and_invalid_utf8():
    assert "nurse" in repair_text(b"nurse \xff\xfe caf\xc3\xa9")


def test_stop_words_keep_job_words():
    assert {"the", "and", "of"} <= stop_words()
    assert not {"computer", "fire", "system", "bill"} & stop_words()


def test_the_combined_boilerplate_regex_matches_what_the_patterns_match():
    from jobclass.model.cleaning import boilerplate_patterns, boilerplate_regex, remove_contact_details, split_sentences
    from jobclass.paths import DEMO_POSTINGS
    from jobclass.postings.files import read_postings_file
    from jobclass.postings.rows import posting_row

    bodies = [posting_row(r, default_source="t", ingested_at="2026-01-01T00:00:00+00:00")["body"]
              for r in list(read_postings_file(DEMO_POSTINGS))[:150]]
    sentences = [s for b in bodies for s in split_sentences(remove_contact_details(repair_text(b)))]
    sentences += ["Apply now!", "Salary: $50,000", "please visit our site", "An equal opportunity employer."]
    each = [any(p.search(s) for p in boilerplate_patterns()) for s in sentences]
    combined = [boilerplate_regex().search(s) is not None for s in sentences]
    assert combined == each and sum(each) >= 4
