"""Reference regimens: every file loads, is cited, and copies its observed data exactly."""

from __future__ import annotations

import importlib.util
import json
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from pkdose import references as refs
from pkdose.errors import PkdoseError
from pkdose.interactions import get_interaction
from pkdose.regimen_io import read_regimen_file
from pkdose.regimen_text import parse_regimen

ROOT = Path(__file__).resolve().parents[1]
REGIMENS = ROOT / "regimens"
JSON = ROOT.parent / "shared" / "data" / "pk_observations.json"
FILES = sorted(REGIMENS.glob("*.toml"))

#: The reference regimens the project asked for (brief.md and pk-literature.md 1c-1d).
REQUIRED = {
    "rapamune-kidney-csa": "sirolimus 6 mg loading then 2 mg daily",
    "rapamune-kidney-cni-withdrawal": "sirolimus 6 mg loading then 2 mg daily",
    "rapamune-lam": "sirolimus 2 mg daily",
    "zortress-kidney": "everolimus 0.75 mg twice daily",
    "zortress-liver": "everolimus 1 mg twice daily",
    "kovarik2003-certican/ev-0-75mg-bid": "everolimus 0.75 mg twice daily",
    "kovarik2003-certican/ev-1-5mg-bid": "everolimus 1.5 mg twice daily",
    "afinitor-10mg-daily": "everolimus 10 mg daily",
    "afinitor-5mg-daily": "everolimus 5 mg daily",
    "afinitor-5mg-every-other-day": "everolimus 5 mg every other day",
    "afinitor-tsc-sega": "everolimus 4.5 mg/m2 daily",
    **{f"odonnell2008/ev-{d}mg-weekly": f"everolimus {d} mg weekly"
       for d in (5, 10, 20, 30, 50, 70)},
    "odonnell2008/ev-5mg-daily": "everolimus 5 mg daily",
    "odonnell2008/ev-10mg-daily": "everolimus 10 mg daily",
    **{f"tabernero2008/ev-{d}mg-weekly": f"everolimus {d} mg weekly" for d in (20, 50, 70)},
    "tabernero2008/ev-5mg-daily": "everolimus 5 mg daily",
    "tabernero2008/ev-10mg-daily": "everolimus 10 mg daily",
    "cohen2012/sirolimus-alone": "sirolimus 90 mg weekly",
    "cohen2012/with-ketoconazole": "sirolimus 16 mg weekly",
    "cohen2012/with-grapefruit-juice": "sirolimus 25 mg weekly",
    "mannick2014/ev-0-5mg-daily": "everolimus 0.5 mg daily for 6 weeks",
    "mannick2014/ev-5mg-weekly": "everolimus 5 mg weekly for 6 weeks",
    "mannick2014/ev-20mg-weekly": "everolimus 20 mg weekly for 6 weeks",
    "mannick2018/ev-0-1mg-daily": "everolimus 0.1 mg daily for 6 weeks",
    "mannick2018/ev-0-5mg-daily": "everolimus 0.5 mg daily for 6 weeks",
    "kraig2018": "sirolimus 1 mg daily for 8 weeks",
    "pearl2025/siro-5mg-weekly": "sirolimus 5 mg weekly for 48 weeks",
    "pearl2025/siro-10mg-weekly": "sirolimus 10 mg weekly for 48 weeks",
    "erap2024": "sirolimus 7 mg weekly for 6 months",
    "gonzales2025": "sirolimus 1 mg daily for 8 weeks",
    "planned-ageing-trials-sirolimus/siro-0-5mg-daily": "sirolimus 0.5 mg daily",
    "planned-ageing-trials-sirolimus/siro-6mg-weekly": "sirolimus 6 mg weekly",
    "planned-ageing-trials-everolimus/ev-1mg-daily": "everolimus 1 mg daily",
    "planned-ageing-trials-everolimus/ev-5mg-weekly": "everolimus 5 mg weekly",
    "chung2019-topical": None,
}

#: JSON metric names -> reference metric (only those that reference files carry).
JSON_METRIC = {"Cmin/trough": "ctrough", "AUC0-tau": "auctau", "AUC": "auc168"}


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return refs.load(directory=REGIMENS)


def test_there_are_files_and_each_is_a_regimen_file_too():
    assert len(FILES) >= 20
    for path in FILES:
        rf = read_regimen_file(path)  # what `pkdose compare regimens/x.toml` reads
        assert rf.regimen.name == path.stem
        assert refs.read_reference(path).regimen == rf.regimen


def test_required_regimens_exist_with_their_doses(table):
    by_name = dict(zip(table["name"], table["regimen"], strict=True))
    missing = sorted(set(REQUIRED) - set(by_name))
    assert not missing, missing
    for name, text in REQUIRED.items():
        if text is not None:
            # The listed regimen says its co-medication ("... with ciclosporin").
            assert by_name[name].split(" with ")[0] == str(parse_regimen(text)), name


def test_every_reference_is_cited_and_classified(table):
    for name in refs.names(REGIMENS):
        r = refs.get(name, REGIMENS)
        assert r.purpose in refs.PURPOSES and r.drug in ("sirolimus", "everolimus")
        assert any(r.source.get(k) for k in ("doi", "pmid", "label")), name
        # Either what was read is said, or verified = false and what was tried.
        assert r.source["citation"] and (r.source.get("verified") or (
            r.source.get("verified") is False and r.source.get("unverified"))), name
        for t in r.targets:
            assert t.doi or t.pmid or t.label, (name, t)
    assert set(table["purpose"]) == set(refs.PURPOSES)  # every purpose is represented


def test_targets_are_ordered_and_typed():
    df = refs.targets(directory=REGIMENS)
    assert len(df) >= 8
    ranges = df[df["kind"] == "range"]
    assert (ranges["low"] < ranges["high"]).all()
    signal = df[df["kind"] == "signal"]
    assert ((signal["low"] == 17.3) & signal["high"].isna()).any()  # Fukudo line
    ev = refs.targets(drug="everolimus", directory=REGIMENS)
    pairs = set(zip(ev["low"], ev["high"], strict=True))
    assert (3.0, 8.0) in pairs and (5.0, 15.0) in pairs
    assert set(refs.targets(purpose="lam", directory=REGIMENS)["low"]) == {5.0}


def test_comedication_is_known_to_the_interaction_layer(table):
    for _, row in table.iterrows():
        for name in row["comedication"]:
            assert get_interaction(row["drug"], name).spec == name


@pytest.mark.skipif(not JSON.exists(), reason="shared/data/pk_observations.json absent")
def test_observed_values_are_exact_copies_of_the_curated_json():
    rows = json.loads(JSON.read_text(encoding="utf-8"))
    obs = refs.observed(directory=REGIMENS)
    copied = obs[obs["origin"] != ""]
    assert len(copied) >= 8
    for _, o in copied.iterrows():
        src = rows[int(o["origin"].split(":")[1]) - 1]
        assert src["drug"] == o["drug"]
        assert JSON_METRIC[src["metric"]] == o["metric"]
        assert (src["value"], src["unit"], src["central"]) == (o["value"], o["unit"],
                                                                 o["central"])
        assert (src["spread"] or "not reported") == o["spread"]
        assert src["n"] == (None if pd.isna(o["n"]) else o["n"])
        assert src["population"] == o["population"]
        assert bool(src["uncertain"]) == bool(o["uncertain"])
        dose = src["regimen"]["dose_mg"]
        if isinstance(dose, (int, float)):
            assert f" {dose:g} mg" in o["regimen"], (o["name"], dose)
    # Kovarik 2003 was measured with ciclosporin; its rows must say so.
    kov = obs[obs["reference"] == "kovarik2003-certican"]
    assert len(kov) == 4 and all(c == ("ciclosporin",) for c in kov["comedication"])


def test_get_narrows_to_an_arm():
    arm = refs.get("cohen2012/with-ketoconazole", REGIMENS)
    assert arm.comedication == ("ketoconazole",)
    assert str(arm.regimen) == "sirolimus 16 mg weekly with ketoconazole"
    assert len(arm.arms) == 1 and all(o.arm == "with-ketoconazole" for o in arm.observed)
    with pytest.raises(PkdoseError, match="reference cohen2012 has no arm 'x'; arms: "
                                          "sirolimus-alone"):
        refs.get("cohen2012/x", REGIMENS)
    with pytest.raises(PkdoseError, match="unknown reference 'nope'; known: "):
        refs.get("nope", REGIMENS)


def test_filters_and_topical_flag(table):
    assert set(refs.load(purpose="oncology", directory=REGIMENS)["purpose"]) == {"oncology"}
    assert set(refs.load(drug="RAD001", directory=REGIMENS)["drug"]) == {"everolimus"}
    assert not refs.get("chung2019-topical", REGIMENS).systemic
    assert table.loc[table["purpose"] != "topical", "systemic"].all()
    with pytest.raises(PkdoseError, match="unknown purpose 'ageing'"):
        refs.load(purpose="ageing", directory=REGIMENS)


def test_packaged_copy_is_identical_and_the_docs_are_current():
    packaged = resources.files("pkdose.data").joinpath("regimens")
    shipped = {e.name: e.read_bytes() for e in packaged.iterdir() if e.name.endswith(".toml")}
    assert shipped == {p.name: p.read_bytes() for p in FILES}, (
        "run: python scripts/gen_references_doc.py")
    spec = importlib.util.spec_from_file_location("gen_references_doc",
                                                  ROOT / "scripts" / "gen_references_doc.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.main(["--check"]) == 0, "run: python scripts/gen_references_doc.py"


def test_folder_lookup_order(monkeypatch, tmp_path):
    monkeypatch.delenv(refs.ENV_VAR, raising=False)
    if Path(refs.__file__).resolve().parents[1] == ROOT:  # running from the source checkout
        assert refs.regimens_dir() == REGIMENS
    else:  # an installed pkdose: the packaged copy
        assert refs.regimens_dir() == resources.files("pkdose.data").joinpath("regimens")
    (tmp_path / "kraig2018.toml").write_bytes((REGIMENS / "kraig2018.toml").read_bytes())
    monkeypatch.setenv(refs.ENV_VAR, str(tmp_path))
    assert refs.names() == ["kraig2018"]
    monkeypatch.setenv(refs.ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(PkdoseError, match="PKDOSE_REGIMENS=.* is not a folder"):
        refs.names()


# ------------------------------------------------------------------------- bad files

GOOD = """\
drug = "sirolimus"
name = "x"
regimen = "sirolimus 1 mg daily"

[reference]
title = "T"
purpose = "ageing-trial"

[reference.population]
description = "adults"

[source]
citation = "C"
doi = "10.1/x"
"""


def _write(tmp_path: Path, text: str, name: str = "x") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_minimal_file_is_valid(tmp_path):
    r = refs.read_reference(_write(tmp_path, GOOD))
    assert (r.name, r.purpose, r.comedication, r.systemic) == ("x", "ageing-trial", (), True)


@pytest.mark.parametrize(("change", "message"), [
    (("purpose = \"ageing-trial\"", "purpose = \"ageing\""),
     "key 'reference.purpose' must be one of transplant, oncology"),
    (("title = \"T\"", "title = \"T\"\ncolour = \"red\""),
     "unknown key 'reference.colour'"),
    (("doi = \"10.1/x\"", "year = 2020"), "'source' needs a doi, pmid or label"),
    (("name = \"x\"", "name = \"y\""), "key 'name' must equal the file name 'x'"),
    (("regimen = \"sirolimus 1 mg daily\"", "regimen = \"sirolimus 1 mg dialy\""),
     "key 'regimen': cannot read 'sirolimus 1 mg dialy'"),
    (("purpose = \"ageing-trial\"", "purpose = \"ageing-trial\"\ncomedication = [\"aspirin\"]"),
     "key 'reference.comedication' has 'aspirin': unknown co-medication 'aspirin' for "
     "sirolimus; known: ketoconazole"),
    (("[source]", "[reference.population]\nn = 0\n[source]"), "invalid TOML"),
    (("[source]\ncitation = \"C\"\ndoi = \"10.1/x\"\n", ""), "missing table \\[source\\]"),
    (("purpose = \"ageing-trial\"", "purpose = \"topical\""),
     "key 'reference.systemic' must be false for purpose 'topical'"),
])
def test_bad_files_fail_on_one_line_naming_file_and_key(tmp_path, change, message):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(PkdoseError, match=message) as err:
        refs.read_reference(path)
    assert "\n" not in str(err.value) and "x.toml" in str(err.value)


@pytest.mark.parametrize(("extra", "message"), [
    ("[[target]]\nmetric = \"ctrough\"\nlow = 8.0\nhigh = 3.0\nunit = \"ng/mL\"\n"
     "applies_to = \"a\"\nsource = \"s\"\nlabel = \"L\"\n",
     "key 'target\\[1\\].low' must be below high, got 8 >= 3"),
    ("[[target]]\nmetric = \"ctrough\"\nlow = 3.0\nunit = \"ng/mL\"\napplies_to = \"a\"\n"
     "source = \"s\"\nlabel = \"L\"\n", "'target\\[1\\]' is a range and needs both"),
    ("[[target]]\nmetric = \"ctrough\"\nlow = 3.0\nhigh = 8.0\nunit = \"ng/mL\"\n"
     "applies_to = \"a\"\nsource = \"s\"\n", "'target\\[1\\]' needs a doi, pmid or label"),
    ("[[observed]]\nmetric = \"ctrough\"\nvalue = 4.0\nunit = \"ng*h/mL\"\n"
     "central = \"mean\"\nspread = \"SD 1\"\n",
     "key 'observed\\[1\\].unit' must be 'ng/mL' for ctrough"),
    ("[[observed]]\nmetric = \"trough\"\nvalue = 4.0\nunit = \"ng/mL\"\n"
     "central = \"mean\"\nspread = \"SD 1\"\n", "key 'observed\\[1\\].metric' must be one of"),
    ("[[observed]]\nmetric = \"ctrough\"\nvalue = 4.0\nunit = \"ng/mL\"\ncentral = \"mean\"\n",
     "missing key 'observed\\[1\\].spread'"),
    ("[[arm]]\nname = \"a\"\ntitle = \"A\"\nregimen = \"2 mg daily\"\n",
     "key 'regimen' must equal the first arm's regimen \\(sirolimus 2 mg daily\\)"),
    ("[[arm]]\nname = \"A b\"\ntitle = \"A\"\nregimen = \"1 mg daily\"\n",
     "key 'arm\\[1\\].name' must be a lower-case slug"),
    ("[[arm]]\nname = \"a\"\ntitle = \"A\"\nregimen = \"everolimus 1 mg daily\"\n",
     "key 'arm\\[1\\].regimen' is for everolimus, but the file's drug is sirolimus"),
    ("[extra]\nx = 1\n", "unknown table 'extra'"),
])
def test_bad_tables_fail_on_one_line(tmp_path, extra, message):
    path = _write(tmp_path, GOOD + "\n" + extra)
    with pytest.raises(PkdoseError, match=message) as err:
        refs.read_reference(path)
    assert "\n" not in str(err.value)


def test_a_bad_file_in_the_folder_fails_load_with_its_name(tmp_path):
    _write(tmp_path, GOOD.replace("ageing-trial", "nope"))
    with pytest.raises(PkdoseError, match="x.toml: key 'reference.purpose'"):
        refs.load(directory=tmp_path)


# ------------------------------------------------------------- the seed list is complete

SEED = ROOT / "pkdose" / "data" / "seed_studies.toml"
BRIEF = ROOT.parent / "shared" / "domain" / "brief.md"


def _seed() -> list[dict]:
    import tomllib

    return tomllib.loads(SEED.read_text(encoding="utf-8"))["study"]


def _table_rows(text: str, heading: str) -> list[list[str]]:
    """The cells of the first markdown table after ``heading`` (header and rule dropped)."""
    after = text[text.index(heading):]
    rows = []
    for line in after.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def brief_studies(text: str) -> set[tuple[str, str]]:
    """(study, start) for every study named in the brief's trial and mouse tables."""
    import re

    name = re.compile(r"[A-Z][A-Za-z]+(?:[- ][A-Z][a-z]+)? (?:\d{4}|et al\.)(?: phase \w+)?")
    out = set()
    for row in _table_rows(text, "Completed ageing trials"):
        out.add((name.match(row[0]).group(0), ""))
    for row in _table_rows(text, "Mice (wild-type lifespan studies"):
        for study in name.findall(row[-1]):
            out.add((study, row[1]))
    return out


def test_every_seed_study_has_a_reference_file_or_a_listed_reason():
    for entry in _seed():
        ref = refs.get(entry["reference"])
        if "not_simulated" in entry:
            assert entry["not_simulated"] in {a.name for a in ref.not_simulated}, entry
            assert all(a.reason for a in ref.not_simulated)
        else:
            assert ref.systemic or ref.purpose == "topical"
            # Every simulable arm parses to a regimen (the report test simulates them).
            assert ref.regimen.blocks


def test_the_seed_copy_lists_every_study_of_the_brief():
    if not BRIEF.is_file():
        pytest.skip("shared/domain/brief.md is not beside the repository; the copy in "
                    "pkdose/data/seed_studies.toml is checked on its own")
    listed = {(e["study"], e.get("start", "")) for e in _seed()}
    named = brief_studies(BRIEF.read_text(encoding="utf-8"))
    assert len(named) >= 24, named  # the parser found both tables (6 trials, 18 mouse)
    assert named <= listed, sorted(named - listed)


def test_new_entries_say_what_was_measured_and_found():
    """Trials and animal studies carry a one-line 'measured' and 'outcome'."""
    for r in (refs.get(n) for n in refs.names()):
        if r.purpose in ("ageing-trial", "topical", *refs.ANIMAL_PURPOSES):
            assert r.measured and r.outcome, r.name
            assert "\n" not in r.measured + r.outcome, r.name


def test_references_filter_by_species_and_purpose():
    mice = refs.load(species="mouse")
    assert set(mice["species"]) == {"mouse"}
    assert {"lifespan", "disease-model"} <= set(mice["purpose"])
    dogs = refs.load(purpose="animal-study", species="dog")
    assert {"urfer2017", "larson2016", "barnett2023"} <= set(dogs["reference"])
    assert refs.load(purpose="lifespan", species="human").empty
    with pytest.raises(PkdoseError, match="unknown species"):
        refs.load(species="cat")


def test_animal_purpose_needs_an_animal_species():
    text = (REGIMENS / "tardif2015.toml").read_text(encoding="utf-8")
    with pytest.raises(PkdoseError, match="animal reference needs one of the purposes"):
        refs.parse_reference(text.replace('species = "marmoset"\n', ""), stem="tardif2015")


def test_not_simulated_and_unverified_entries_are_checked():
    text = (REGIMENS / "mannick2021.toml").read_text(encoding="utf-8")
    bad = text.replace('reason = "RTB101 (dactolisib) alone: no rapalog to simulate"\n', "")
    with pytest.raises(PkdoseError, match="not_simulated\\[4\\].reason"):
        refs.parse_reference(bad, stem="mannick2021")
    clash = text.replace('name = "p3-rtb101-10mg-daily"', 'name = "ev-0-1mg-daily-with-rtb101"')
    with pytest.raises(PkdoseError, match="share a name"):
        refs.parse_reference(clash, stem="mannick2021")
    unverified = (REGIMENS / "zhang2014.toml").read_text(encoding="utf-8")
    start = unverified.index("unverified = ")
    stripped = unverified[:start] + unverified[unverified.index("\n", start) + 1:]
    with pytest.raises(PkdoseError, match="needs 'source.unverified'"):
        refs.parse_reference(stripped, stem="zhang2014")


def test_combinations_say_what_they_combine():
    for name, partner in (("strong2016", "metformin"), ("strong2022", "acarbose")):
        ref = refs.get(name)
        assert any(partner in c for c in ref.combined_with)
    lib = refs.lifespan()
    assert set(lib.loc[lib["reference"] == "strong2016", "combined_with"]) == {
        refs.get("strong2016").combined_with[0]}
    assert (lib.loc[lib["reference"] == "miller2014", "combined_with"] == "").all()


def test_a_reference_renders_itself_as_references_show_prints_it():
    from click.testing import CliRunner

    from pkdose.cli import main

    ref = refs.get("afinitor-10mg-daily")
    text = ref.to_text()
    assert text.startswith(f"{ref.name}: {ref.title}\n")
    assert f"  source: {ref.source['citation']}" in text
    assert all(f"  target {t.metric} " in text for t in ref.targets)
    res = CliRunner().invoke(main, ["references", "show", ref.name])
    assert res.exit_code == 0 and res.stdout.endswith(text)
