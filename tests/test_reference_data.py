"""The Asterisk 22 reference data in tests/asterisk22/ and the FreeSWITCH 1.10 data in
tests/freeswitch110/ (see their READMEs), and the skip rule."""

from __future__ import annotations

import filecmp
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ASTERISK22

REPO = Path(__file__).resolve().parents[1]
LAB_COPY = REPO.parent / "shared"
FOLDERS = ("asterisk-ari", "asterisk-facts")
FREESWITCH110 = REPO / "tests" / "freeswitch110"
FREESWITCH_FOLDERS = ("freeswitch-facts",)


def differences(ours: Path, theirs: Path) -> list[str]:
    """Files that differ, or exist on one side only, between two trees (byte comparison)."""
    found: list[str] = []

    def walk(cmp: filecmp.dircmp[str], where: str) -> None:
        found.extend(f"{where}{name} (only in the lab's copy)" for name in cmp.right_only)
        found.extend(f"{where}{name} (only in tests/asterisk22)" for name in cmp.left_only)
        _, mismatch, errors = filecmp.cmpfiles(
            cmp.left, cmp.right, cmp.common_files, shallow=False
        )
        found.extend(f"{where}{name} (differs)" for name in mismatch + errors)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{where}{name}/")

    walk(filecmp.dircmp(ours, theirs, ignore=[]), "")
    return found


def test_the_reference_data_is_in_the_repository() -> None:
    for folder in FOLDERS:
        assert (ASTERISK22 / folder).is_dir(), folder
    assert len(list((ASTERISK22 / "asterisk-ari").glob("*.json"))) >= 10
    assert (ASTERISK22 / "asterisk-facts" / "README.md").is_file()
    assert list((ASTERISK22 / "asterisk-facts").glob("*.jsonl"))


def test_the_freeswitch_data_is_in_the_repository() -> None:
    facts = FREESWITCH110 / "freeswitch-facts"
    assert (facts / "README.md").is_file()
    assert len(list(facts.glob("esl-*.jsonl"))) == 5
    assert len(list(facts.glob("audio-fork-t*.jsonl"))) >= 10


def test_differences_finds_a_changed_and_a_missing_file(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for tree in (ours, theirs):
        (tree / "sub").mkdir(parents=True)
        (tree / "same.json").write_text("{}")
    (ours / "sub" / "x.jsonl").write_text("a")
    (theirs / "sub" / "x.jsonl").write_text("b")
    (theirs / "new.md").write_text("new")
    assert sorted(differences(ours, theirs)) == [
        "new.md (only in the lab's copy)",
        "sub/x.jsonl (differs)",
    ]


if LAB_COPY.is_dir():  # the lab's machines and CI have it; a clone elsewhere has only its copy

    @pytest.mark.parametrize("folder", FOLDERS)
    def test_the_copy_is_current_with_the_lab(folder: str) -> None:
        stale = differences(ASTERISK22 / folder, LAB_COPY / folder)
        assert not stale, (
            f"tests/asterisk22/{folder} is not the lab's current copy"
            f" (see tests/asterisk22/README.md): {stale}"
        )

    @pytest.mark.parametrize("folder", FREESWITCH_FOLDERS)
    def test_the_freeswitch_copy_is_current_with_the_lab(folder: str) -> None:
        stale = differences(FREESWITCH110 / folder, LAB_COPY / folder)
        assert not stale, (
            f"tests/freeswitch110/{folder} is not the lab's current copy"
            f" (see tests/freeswitch110/README.md): {stale}"
        )


def run_pytest(tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest

        def test_runs() -> None:
            assert True

        def test_needs_a_tool() -> None:
            pytest.skip("sox is not installed")

        @pytest.mark.skipif(True, reason="platform: not Linux")
        def test_linux_only() -> None:
            assert True
    """))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", str(tmp_path / "pytest.ini"),
         "--rootdir", str(tmp_path), "-p", "no:cacheprovider", *options,
         str(tmp_path / "test_sample.py")],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )


def test_a_skip_for_a_missing_requirement_fails_a_strict_run(tmp_path: Path) -> None:
    strict = run_pytest(tmp_path, "--strict-skips")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "skipped for a missing requirement" in strict.stdout
    assert "test_needs_a_tool: sox is not installed" in strict.stdout
    assert "test_linux_only" not in strict.stdout.split("missing requirement")[1]


def test_a_lenient_run_and_a_platform_skip_pass(tmp_path: Path) -> None:
    lenient = run_pytest(tmp_path)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "1 passed, 2 skipped" in lenient.stdout
