"""Build ovopark.zip, the HACS release asset, and check a tag names the integration's version.

Run through `scripts/build_release` (the release workflow and tests/test_release.py do). Standard
library only, Python 3.11 or newer: the workflow runs it with the runner's own python3.

- The zip holds the files of `custom_components/ovopark/` at its root, as HACS unpacks a
  `zip_release` asset straight into `custom_components/ovopark/`; no `__pycache__`, no compiled
  or hidden files. Entries are sorted and dated 1980-01-01, so a build is reproducible.
- `--tag` (`v0.1.0` or `0.1.0`) must name `manifest.json`'s version, which pyproject.toml and a
  `## [version]` heading of CHANGELOG.md must match too; otherwise nothing is built.
- `--notes FILE` writes that version's CHANGELOG.md section (the release's description).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import re
import sys
import tomllib
import zipfile

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "custom_components" / "ovopark"
ASSET = "ovopark.zip"  # hacs.json's `filename`
SKIPPED_DIRS = {"__pycache__"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ReleaseError(Exception):
    """The release cannot be built; the message says why."""


def manifest_version(source: Path) -> str:
    """The integration's version, from its manifest."""
    return str(json.loads((source / "manifest.json").read_text(encoding="utf-8"))["version"])


def changelog_section(changelog: str, version: str) -> str | None:
    """The body of the `## [version]` section of a keep-a-changelog file, or None."""
    heading = re.compile(rf"^## \[{re.escape(version)}\].*$", re.MULTILINE)
    if not (match := heading.search(changelog)):
        return None
    following = re.compile(r"^## ", re.MULTILINE).search(changelog, match.end())
    return changelog[match.end() : following.start() if following else None].strip()


def check_tag(tag: str, source: Path, repo: Path) -> str:
    """Return the version `tag` names; raise ReleaseError unless every version agrees."""
    version = manifest_version(source)
    if tag.removeprefix("v") != version:
        raise ReleaseError(f"tag {tag!r} does not name manifest.json's version {version!r}")
    project = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if project["version"] != version:
        raise ReleaseError(
            f"pyproject.toml's version {project['version']!r} is not manifest.json's {version!r}"
        )
    try:
        changelog = (repo / "CHANGELOG.md").read_text(encoding="utf-8")
    except OSError as err:
        raise ReleaseError(f"CHANGELOG.md cannot be read: {err}") from err
    if changelog_section(changelog, version) is None:
        raise ReleaseError(f"CHANGELOG.md has no '## [{version}]' section")
    return version


def packaged_files(source: Path) -> list[Path]:
    """The files the zip holds, relative to `source`, sorted."""
    files = []
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if (
            path.is_file()
            and not SKIPPED_DIRS.intersection(relative.parts)
            and path.suffix not in SKIPPED_SUFFIXES
            and not any(part.startswith(".") for part in relative.parts)
        ):
            files.append(relative)
    return sorted(files, key=lambda p: p.as_posix())


def build_zip(source: Path, out: Path) -> list[str]:
    """Write the zip with `source`'s files at its root; return the entry names."""
    if not (source / "manifest.json").is_file():
        raise ReleaseError(f"{source} holds no manifest.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    names = []
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in packaged_files(source):
            info = zipfile.ZipInfo(relative.as_posix(), ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (source / relative).read_bytes())
            names.append(info.filename)
    tmp.replace(out)
    return names


def main(argv: list[str] | None = None) -> int:
    """Check the tag (if given), build the zip, write the notes (if asked)."""
    parser = argparse.ArgumentParser(
        prog="scripts/build_release",
        description="Build ovopark.zip (the HACS release asset); check a tag names the version.",
    )
    parser.add_argument("--tag", help="the release tag (v1.2.3 or 1.2.3): must name the version")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / ASSET, help="the zip to write")
    parser.add_argument("--notes", type=Path, help="write the version's changelog section here")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the integration's folder")
    args = parser.parse_args(argv)
    if args.notes and not args.tag:
        parser.error("--notes needs --tag")
    try:
        version = check_tag(args.tag, args.source, REPO) if args.tag else None
        names = build_zip(args.source, args.out)
    except ReleaseError as err:
        print(f"build_release: {err}", file=sys.stderr)
        return 1
    if args.notes and version:
        changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
        args.notes.write_text(f"{changelog_section(changelog, version)}\n", encoding="utf-8")
    print(f"{args.out}: {len(names)} files, version {manifest_version(args.source)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
