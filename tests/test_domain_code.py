"""The code domain: source trees with .gitignore, filters, and skips that are counted."""

from pathlib import Path

import pytest

from hnet_cli.data.registry import get_domain
from hnet_cli.errors import ConfigError

code = get_domain("code")
REPO = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)


def read_all(paths, **options):
    stream = code.read(paths, **options)
    return list(stream), stream.stats


@pytest.fixture
def tree(tmp_path):
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n",
        "README.md": "# demo\n",
        "setup.py": "print('setup')\n",
        "keep.log": "kept despite *.log\n",
        "debug.log": "ignored\n",
        "build/out.py": "generated = True\n",
        "src/app.py": "def main():\n    return 1\n",
        "src/util.rs": "fn main() {}\n",
        "src/copy_of_app.py": "def main():\n    return 1\n",  # exact duplicate of src/app.py
        "src/empty.py": "",
        "src/.gitignore": "secret.py\n",
        "src/secret.py": "TOKEN = 'x'\n",
        "src/big.py": "x = 1\n" * 400,
        ".git/config": "[core]\n",
    }
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (tmp_path / "src" / "logo.png").write_bytes(PNG)
    (tmp_path / "src" / "latin1.py").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    return tmp_path


def test_tree_order_gitignore_and_counted_skips(tree):
    docs, stats = read_all([tree], max_bytes=1000)
    assert [d.name for d in docs] == [
        ".gitignore", "README.md", "keep.log", "setup.py", "src/.gitignore", "src/app.py", "src/util.rs",
    ]
    for doc in docs:
        assert doc.data == (tree / doc.name).read_bytes()
        assert doc.source == str(tree) and doc.meta["path"] == doc.name
    assert docs[5].meta["language"] == "python" and docs[6].meta["language"] == "rust"
    assert stats.skipped == {
        "binary file": 1,
        "duplicate file": 1,
        "empty file": 1,
        "invalid utf-8": 1,
        "larger than max_bytes": 1,
    }
    assert stats.examples["binary file"] == [str(tree / "src" / "logo.png")]
    assert stats.excluded == {".gitignore": 3, "VCS or bytecode directory": 1}  # build/, debug.log, src/secret.py
    assert "skipped" in stats.summary() and "binary file, e.g." in stats.summary()


def test_filters_and_header(tree):
    docs, stats = read_all([tree], languages=["python"], exclude=["setup.py"], gitignore=False, dedup=False)
    assert [d.name for d in docs] == ["build/out.py", "src/app.py", "src/big.py", "src/copy_of_app.py", "src/secret.py"]
    assert stats.excluded["language filter"] >= 5 and stats.excluded["exclude pattern"] == 1
    docs, _ = read_all([tree], include=["src/**"], path_header=True)
    assert docs[0].name == "src/.gitignore"
    app = next(d for d in docs if d.name == "src/app.py")
    assert app.data == b"src/app.py\ndef main():\n    return 1\n" and app.meta["header_bytes"] == 11


def test_invalid_utf8_policies(tree):
    docs, stats = read_all([tree / "src" / "latin1.py"], errors="replace")
    assert docs[0].data == "name = 'caf\ufffd'\n".encode() and stats.replaced == 1


def test_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown language 'c#\\+\\+'"):
        code.parse_options(["languages=python,c#++"])
    assert code.parse_options(["languages=python, rs"])["languages"] == ("python", "rs")


def test_reads_this_projects_sources():
    root = REPO / "hnet_cli"
    docs, stats = read_all([root], languages=["python"])
    expected = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    names = [d.name for d in docs]
    assert names == sorted(names)  # sorted by relative path
    # Every source file is there, unless it is an exact duplicate (e.g. empty __init__.py files are "empty").
    assert set(names) <= set(expected)
    assert "data/domain.py" in names and "data/readers/fasta.py" in names
    missing = set(expected) - set(names)
    assert len(missing) == stats.total_skipped
    for doc in docs:
        assert doc.data == (root / doc.name).read_bytes()


def test_default_paths_are_the_standard_library():
    paths = code.default_paths()
    assert any(p.name == "json" for p in paths) and any(p.name == "os.py" for p in paths)
    assert not any(p.name in ("site-packages", "__pycache__") for p in paths)
