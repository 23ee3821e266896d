from reid_plugins.data.synthetic.preview import _pick_examples


def _entry(pid, cam, outfit=None):
    e = {"id": pid, "file_path": f"query/{pid:04d}_c{cam}s1_000001_00.jpg"}
    if outfit is not None:
        e["outfit"] = outfit
    return e


def test_examples_spread_over_identities():
    captions = [_entry(pid, cam) for pid in range(1, 21) for cam in (1, 2, 3)]
    chosen = _pick_examples(captions, {}, 8)
    assert len(chosen) == 8 and len({c["id"] for c in chosen}) == 8


def test_where_people_change_clothes_each_is_shown_in_two_outfits():
    captions = []
    for pid in range(1, 11):
        changes = pid % 3 != 0                        # pids 3, 6, 9 never change
        captions += [_entry(pid, 1, 0), _entry(pid, 2, 0), _entry(pid, 3, 2 if changes else 0)]
        if changes:
            captions.append(_entry(pid, 4, 1))
    chosen = _pick_examples(captions, {}, 8)
    assert len(chosen) == 8
    pairs = [chosen[i:i + 2] for i in range(0, 8, 2)]
    assert len({a["id"] for a, _ in pairs}) == 4
    for own, other in pairs:
        assert own["id"] == other["id"] and own["id"] % 3 != 0
        assert own["outfit"] == 0 and other["outfit"] == 1       # the first other outfit by number
