"""The append-only journal: reload, an interrupted last record, corruption named by line."""
import json

import pytest

from reid_plugins.utils.journal import Journal, JournalError


def test_records_survive_reopening_and_last_record_of_a_key_wins(tmp_path):
    path = str(tmp_path / "sub" / "j.jsonl")
    with Journal(path) as j:
        j.append({"type": "run", "model": "m"})
        j.append({"type": "item", "key": "a", "status": "rejected"})
        j.append({"type": "item", "key": "b", "status": "generated"})
        j.append({"type": "item", "key": "a", "status": "generated"})
    j = Journal(path)
    assert j.done == {"a": {"type": "item", "key": "a", "status": "generated"},
                      "b": {"type": "item", "key": "b", "status": "generated"}}
    assert j.runs == [{"type": "run", "model": "m"}]
    j.close()
    with pytest.raises(ValueError, match="type 'item' or 'run'"):
        Journal(path).append({"key": "c"})


def test_unfinished_last_record_is_cut_and_appending_continues(tmp_path):
    path = tmp_path / "j.jsonl"
    good = json.dumps({"type": "item", "key": "a", "status": "generated"}) + "\n"
    path.write_text(good + '{"type": "item", "key": "b", "sta')  # killed while writing b
    with Journal(str(path)) as j:
        assert list(j.done) == ["a"]
        j.append({"type": "item", "key": "c", "status": "generated"})
    assert path.read_text() == good + json.dumps({"type": "item", "key": "c", "status": "generated"}) + "\n"
    assert list(Journal(str(path)).done) == ["a", "c"]


def test_corrupt_complete_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"type": "item", "key": "a"}\nnot json\n{"type": "item", "key": "b"}\n')
    with pytest.raises(JournalError, match=r"j.jsonl line 2 is not valid JSON"):
        Journal(str(path))
    path.write_text('{"type": "item"}\n')
    with pytest.raises(JournalError, match="line 1: item record without a string 'key'"):
        Journal(str(path))
