"""save_figure writes a PNG atomically, of the size the figure and dpi give, and closes the figure."""
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from reid_plugins.utils.figures import save_figure  # noqa: E402


def _figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [1, 0])
    return fig


def test_png_of_the_requested_size_and_figure_closed(tmp_path):
    fig = _figure()
    path = str(tmp_path / "sub" / "plot.png")
    assert save_figure(fig, path, dpi=50) == path
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert mpimg.imread(path).shape[:2] == (75, 100)  # 1.5 x 2 inches at 50 dpi
    assert not plt.fignum_exists(fig.number)
    assert os.listdir(tmp_path / "sub") == ["plot.png"]


def test_same_bytes_as_savefig_to_a_path(tmp_path):
    a, b = _figure(), _figure()
    a.savefig(str(tmp_path / "direct.png"), dpi=40)
    save_figure(b, str(tmp_path / "helper.png"), dpi=40)
    assert (tmp_path / "direct.png").read_bytes() == (tmp_path / "helper.png").read_bytes()
    plt.close(a)


def test_format_from_the_extension_and_failure_keeps_old_file(tmp_path):
    path = tmp_path / "plot.pdf"
    save_figure(_figure(), str(path))
    old = path.read_bytes()
    assert old[:5] == b"%PDF-"
    fig = _figure()
    fig.suptitle("another figure")
    draw = fig.savefig

    def killed_half_way(f, **kwargs):
        draw(f, **kwargs)
        raise KeyboardInterrupt

    fig.savefig = killed_half_way
    with pytest.raises(KeyboardInterrupt):
        save_figure(fig, str(path))
    assert path.read_bytes() == old
    assert not plt.fignum_exists(fig.number)
    assert os.listdir(tmp_path) == ["plot.pdf"]
