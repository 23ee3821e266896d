"""Folders and list files of images, with labels."""
import os

import pytest

from reid_plugins.inference.images import list_images


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")


def test_folder_recursive_sorted_and_market_labels(tmp_path):
    for name in ("b/0002_c3s1_000001_00.jpg", "0001_c1s1_000001_00.PNG", "notes.txt", "b/c/0010_c12_x.jpeg"):
        _touch(str(tmp_path / name))
    images = list_images(str(tmp_path), labels="market")
    assert [os.path.relpath(p, tmp_path) for p in images.paths] == [
        "0001_c1s1_000001_00.PNG", "b/0002_c3s1_000001_00.jpg", "b/c/0010_c12_x.jpeg"]
    assert images.pids == ["1", "2", "10"] and images.camids == ["1", "3", "12"] and images.labels == "market"
    _touch(str(tmp_path / "holiday.jpg"))
    with pytest.raises(ValueError, match="not Market-1501 names.*holiday.jpg"):
        list_images(str(tmp_path), labels="market")


def test_list_file_with_labels_relative_to_itself(tmp_path):
    (tmp_path / "list.txt").write_text("# gallery\nimgs/a.jpg\t7\t2\n\n/abs/b.png\t8\t1\n")
    images = list_images(str(tmp_path / "list.txt"))
    assert images.paths == [str(tmp_path / "imgs" / "a.jpg"), "/abs/b.png"]
    assert (images.pids, images.camids, images.labels) == (["7", "8"], ["2", "1"], "list")
    (tmp_path / "mixed.txt").write_text("a.jpg\t1\nb.jpg\n")
    with pytest.raises(ValueError, match="mixes lines with and without labels"):
        list_images(str(tmp_path / "mixed.txt"))


def test_empty_inputs_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures")
    with pytest.raises(ValueError, match="no images under .*empty"):
        list_images(str(tmp_path / "empty"))
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="names no images"):
        list_images(str(tmp_path / "empty.txt"))
    with pytest.raises(FileNotFoundError, match="neither a folder nor a list file"):
        list_images(str(tmp_path / "absent"))
