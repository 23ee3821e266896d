"""The one loader of the CUHK-PEDES annotation JSON: the captioning tool reads the dicts as stored and accepts
exactly the files the T2I datasets accept."""
import json

import pytest

from reid_plugins.captioning.annotations import image_key, load_annotations as load_dicts
from reid_plugins.data.annotations import T2IAnnotationError, load_annotations

GOOD = {"split": "train", "file_path": "a/1.png", "id": 3, "captions": ["a man in red"], "processed_tokens": [["a"]]}


def _write(tmp_path, entries):
    path = tmp_path / "reid_raw.json"
    path.write_text(json.dumps(entries))
    return str(path)


def test_dicts_keep_every_key_and_accept_either_image_key(tmp_path):
    rstp = {"split": "test", "img_path": "b/2.jpg", "id": 4, "captions": ["x"], "identity_description": "tall"}
    path = _write(tmp_path, [GOOD, rstp])
    assert load_dicts(path) == [GOOD, rstp]
    assert [image_key(e) for e in load_dicts(path)] == ["a/1.png", "b/2.jpg"]


@pytest.mark.parametrize("change, message", [
    ({"captions": []}, r"entry 1: key 'captions' is an empty list"),
    ({"captions": ["ok", " "]}, r"entry 1: key 'captions'\[1\] must be a non-empty string"),
    ({"file_path": "../escape.png"}, r"entry 1: key 'file_path'='../escape.png' must be a path relative"),
    ({"id": True}, r"entry 1: key 'id' must be an integer person id"),
    ({"clothing_description": ""}, r"entry 1: key 'clothing_description' must be a non-empty string"),
    ({"file_path": "a/1.png"}, r"entry 1: key 'file_path'='a/1.png' repeats entry 0"),
])
def test_both_readers_reject_the_same_entries(tmp_path, change, message):
    second = dict(GOOD, file_path="a/2.png", **{k: v for k, v in change.items() if k != "file_path"})
    if "file_path" in change:
        second["file_path"] = change["file_path"]
    path = _write(tmp_path, [GOOD, second])
    with pytest.raises(T2IAnnotationError, match=message):
        load_dicts(path)
    with pytest.raises(T2IAnnotationError, match=message):
        load_annotations(path, image_key="file_path", image_root=str(tmp_path), check_images=False)


def test_entry_without_an_image_key_names_the_usual_one(tmp_path):
    path = _write(tmp_path, [{"split": "train", "id": 1, "captions": ["x"]}])
    with pytest.raises(T2IAnnotationError, match=r"entry 0: missing key 'file_path'"):
        load_dicts(path)


def test_empty_list_and_bad_json_are_refused(tmp_path):
    with pytest.raises(ValueError, match="the annotation list is empty"):
        load_dicts(_write(tmp_path, []))
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(ValueError, match="bad.json' is not valid JSON: it is cut short"):
        load_dicts(str(tmp_path / "bad.json"))
