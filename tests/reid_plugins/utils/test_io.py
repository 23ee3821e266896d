"""Atomic writes: the new content replaces the old one whole, an interrupted write keeps the old file, and no
temporary file stays behind. read_json: the content, or an error naming the file, what it should hold, the problem
and the fix."""
import json
import os

import pytest
import torch

from reid_plugins.engine.guards import remove_stale_temp_files
from reid_plugins.utils.io import (JSONFileError, atomic_path, read_json, torch_save_atomic, write_atomic,
                                   write_bytes_atomic, write_json_atomic, write_text_atomic)


def test_writes_create_folders_and_leave_only_the_file(tmp_path):
    path = str(tmp_path / "a" / "b" / "x.json")
    assert write_json_atomic(path, {"b": 1, "a": [1, 2]}, indent=1, sort_keys=True) == path
    with open(path) as f:
        assert f.read() == '{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}'
    write_text_atomic(str(tmp_path / "a" / "t.txt"), "model_0001.pth")
    write_bytes_atomic(str(tmp_path / "a" / "bin"), b"\x00\xff")
    assert (tmp_path / "a" / "t.txt").read_text() == "model_0001.pth"
    assert (tmp_path / "a" / "bin").read_bytes() == b"\x00\xff"
    assert sorted(os.listdir(tmp_path / "a")) == ["b", "bin", "t.txt"]
    assert os.listdir(tmp_path / "a" / "b") == ["x.json"]


def test_json_ascii_and_utf8(tmp_path):
    path = str(tmp_path / "x.json")
    write_json_atomic(path, {"caption": "café"})
    assert open(path, "rb").read() == b'{"caption": "caf\\u00e9"}'
    write_json_atomic(path, {"caption": "café"}, ensure_ascii=False)
    assert open(path, "rb").read() == '{"caption": "café"}'.encode("utf-8")


def test_interrupted_write_keeps_the_old_content(tmp_path):
    path = str(tmp_path / "x.json")
    write_json_atomic(path, {"old": True})

    def half_then_fail(f):
        f.write('{"new": ')
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        write_atomic(path, half_then_fail)
    with pytest.raises(TypeError):  # not JSON-serialisable: json.dump fails half-way
        write_json_atomic(path, {"new": object()})
    with pytest.raises(OSError):
        with atomic_path(path, ".npy") as tmp:
            raise OSError("disk full")
    assert not os.path.exists(tmp)
    assert json.load(open(path)) == {"old": True}
    assert os.listdir(tmp_path) == ["x.json"]


def test_atomic_path_names_the_temporary_file_next_to_the_target(tmp_path):
    path = str(tmp_path / "feats.npy")
    with atomic_path(path, ".npy") as tmp:
        assert tmp == f"{path}.tmp{os.getpid()}.npy"
        assert not os.path.exists(path)
        with open(tmp, "wb") as f:
            f.write(b"done")
    assert open(path, "rb").read() == b"done"
    assert os.listdir(tmp_path) == ["feats.npy"]


def test_torch_save_is_reproducible_and_loads(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    a, b = str(tmp_path / "a.pth"), str(tmp_path / "b.pth")
    torch_save_atomic(state, a)
    torch_save_atomic(state, b)
    assert open(a, "rb").read() == open(b, "rb").read()
    assert torch.equal(torch.load(a, weights_only=True)["w"], state["w"])


def test_temporary_name_is_the_one_the_stale_file_sweep_knows(tmp_path):
    # A killed checkpoint writer leaves <name>.pth.tmp<pid>; the sweep removes it once <pid> is gone.
    with atomic_path(str(tmp_path / "model_0001.pth")) as tmp:
        stale = tmp.replace(str(os.getpid()), "999999999")
        open(stale, "w").close()
        open(tmp, "w").close()
    assert remove_stale_temp_files(str(tmp_path)) == [stale]
    assert os.listdir(tmp_path) == ["model_0001.pth"]


def test_fsync_false_renames_without_flushing(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    write_bytes_atomic(str(tmp_path / "a.jpg"), b"\x01\x02")
    assert len(calls) == 1
    write_bytes_atomic(str(tmp_path / "b.jpg"), b"\x03", fsync=False)
    assert len(calls) == 1
    assert (tmp_path / "b.jpg").read_bytes() == b"\x03" and sorted(os.listdir(tmp_path)) == ["a.jpg", "b.jpg"]


def test_read_json_returns_the_content(tmp_path):
    path = str(tmp_path / "x.json")
    write_json_atomic(path, {"caption": "café", "boxes": [[1, 2, 3, 4], None]}, ensure_ascii=False)
    assert read_json(path, "captions") == {"caption": "café", "boxes": [[1, 2, 3, 4], None]}


@pytest.mark.parametrize("text, problem", [
    ("", r"is empty, not valid JSON"),
    ("  \n", r"is empty, not valid JSON"),
    ('{"entries": {"a": [1, 2', r"is not valid JSON: it is cut short \(Expecting ',' delimiter at line 1 column 24\), "
                                r"as an interrupted write leaves a file"),
    ('{"entries": "ab', r"is not valid JSON: it is cut short \(Unterminated string starting at line 1 column 13\), "
                        r"as an interrupted write leaves a file"),
    ('{"a": 1,}', r"is not valid JSON \(Expecting property name enclosed in double quotes at line 1 column 9\)"),
    ('{"a": 1}\n{"b": 2}', r"is not valid JSON \(Extra data at line 2 column 1\)"),
])
def test_read_json_names_file_expectation_problem_and_fix(tmp_path, text, problem):
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(JSONFileError, match=r"^zoo manifest '.*manifest.json' " + problem + r"; rebuild the zoo$"):
        read_json(str(path), "zoo manifest", fix="rebuild the zoo")


def test_read_json_missing_unreadable_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^style bank '.*nope.json' does not exist; make it$"):
        read_json(str(tmp_path / "nope.json"), "style bank", fix="make it")
    with pytest.raises(OSError, match=r"^feature manifest '.*' cannot be read \(Is a directory\)$"):
        read_json(str(tmp_path), "feature manifest")
    (tmp_path / "bin.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(JSONFileError, match=r"^part boxes '.*bin.json' is not UTF-8 text \(byte 7\), so not JSON$"):
        read_json(str(tmp_path / "bin.json"), "part boxes")


def test_read_json_raises_the_callers_error_class_for_every_problem(tmp_path):
    class LayoutError(RuntimeError):
        pass

    with pytest.raises(LayoutError, match=r"^annotation file '.*a.json' does not exist$"):
        read_json(str(tmp_path / "a.json"), "annotation file", error=LayoutError)
    (tmp_path / "a.json").write_text("[{")
    with pytest.raises(LayoutError, match=r"^annotation file '.*a.json' is not valid JSON: it is cut short"):
        read_json(str(tmp_path / "a.json"), "annotation file", error=LayoutError)
