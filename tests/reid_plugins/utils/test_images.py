"""image_data_url: the file's bytes, base64, behind the MIME type its extension names."""
import base64

import pytest

from reid_plugins.utils.images import image_data_url


def test_image_data_url_round_trips_the_file(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    url = image_data_url(str(p))
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == b"\xff\xd8\xff\xe0fake-jpeg"
    (tmp_path / "y.png").write_bytes(b"ab")
    assert image_data_url(str(tmp_path / "y.png")) == "data:image/png;base64,YWI="
    with pytest.raises(FileNotFoundError, match="nope.png"):
        image_data_url(str(tmp_path / "nope.png"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt.*image type"):
        image_data_url(str(tmp_path / "notes.txt"))
