"""Box parsing: CogVLM 0-1000, Qwen2.5-VL bbox_2d JSON, plain lists, multi-box rules, garbage."""
import pytest

from reid_plugins.grounding.parsing import parse_answer, qwen25_input_size

WH = (128, 256)  # (W, H)


def _p(text, **kw):
    r = parse_answer(text, WH, **kw)
    return r.box, r.parser, r.n_boxes  # x / 1000 and x / W are correctly rounded, so literals compare exactly


def test_cogvlm_single_and_multi_box():
    assert _p("The head of the person[[302,065,620,256]]") == ((0.302, 0.065, 0.62, 0.256), "cogvlm", 1)
    legs = "the legs of the person[[100,500,300,990];[350,510,600,995]]"
    assert _p(legs) == ((0.1, 0.5, 0.6, 0.995), "cogvlm", 2)                 # union
    assert _p(legs, multi_box="largest") == ((0.35, 0.51, 0.6, 0.995), "cogvlm", 2)  # 0.25*0.485 > 0.2*0.49
    assert _p(legs, multi_box="first") == ((0.1, 0.5, 0.3, 0.99), "cogvlm", 2)
    assert _p("[[100,200,300,400],[150,250,350,450]]") == ((0.1, 0.2, 0.35, 0.45), "cogvlm", 2)
    assert _p("[[1,2]] then [[100,200,300,400]]") == ((0.1, 0.2, 0.3, 0.4), "cogvlm", 1)  # malformed group skipped


def test_qwen_json_in_fence_bare_and_dict():
    fenced = '```json\n[\n  {"bbox_2d": [40, 20, 80, 60], "label": "head"}\n]\n```'
    assert _p(fenced) == ((40 / 128, 20 / 256, 80 / 128, 60 / 256), "qwen_json", 1)
    assert _p('Sure: {"bbox_2d": [40, 20, 80, 60]}') == ((40 / 128, 20 / 256, 80 / 128, 60 / 256), "qwen_json", 1)
    two = '[{"bbox_2d": [10, 100, 50, 250]}, {"bbox_2d": [60, 110, 100, 240]}]'
    assert _p(two) == ((10 / 128, 100 / 256, 100 / 128, 250 / 256), "qwen_json", 2)
    assert _p('[{"bbox_2d": [100, 50, 300, 400]}]', json_coords="norm1000") == ((0.1, 0.05, 0.3, 0.4),
                                                                                 "qwen_json", 1)


def test_qwen25_resized_coordinates_use_smart_resize():
    # transformers' smart_resize(256, 128) -> (252, 140): the model's pixel grid for a 128x256 image
    assert qwen25_input_size(WH) == (252, 140)
    assert _p('[{"bbox_2d": [70, 126, 140, 252]}]', json_coords="qwen25-resized") == ((0.5, 0.5, 1.0, 1.0),
                                                                                       "qwen_json", 1)


def test_plain_lists_with_auto_coordinates():
    assert _p("box: [0.1, 0.2, 0.5, 0.6]") == ((0.1, 0.2, 0.5, 0.6), "plain", 1)              # fractions
    assert _p("(16, 32, 64, 128)") == ((0.125, 0.125, 0.5, 0.5), "plain", 1)                 # pixels: fits 128x256
    assert _p("[500, 20, 900, 600]") == ((0.5, 0.02, 0.9, 0.6), "plain", 1)                  # x > 128 -> 0-1000
    assert _p("left 16, top 32, right 64, bottom 128") == ((0.125, 0.125, 0.5, 0.5), "plain", 1)  # just 4 numbers
    assert _p("(16, 32, 64, 128)", plain_coords="norm1000") == ((0.016, 0.032, 0.064, 0.128), "plain", 1)


def test_reversed_corners_are_sorted_and_boxes_clipped():
    assert _p("[[620,256,302,065]]") == ((0.302, 0.065, 0.62, 0.256), "cogvlm", 1)
    assert _p('[{"bbox_2d": [-10, 200, 140, 300]}]') == ((0.0, 200 / 256, 1.0, 1.0), "qwen_json", 1)


@pytest.mark.parametrize("text", ["", "I cannot find a person in this image.", "[[abc]]", "[[1,2,3]]",
                                  '[{"bbox_2d": "somewhere"}]', "coordinates 1 2", "[1500, 3, 4, 5]",
                                  '```json\n{"bbox_2d": [1, 2\n```', None])
def test_garbage_is_unparsed(text):
    box, parser, _ = _p(text)
    assert box is None and parser == "unparsed"


def test_zero_area_box_is_unparsed_but_counted():
    assert _p("[[500,500,500,900]]") == (None, "unparsed", 1)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="multi_box"):
        parse_answer("[[1,2,3,4]]", WH, multi_box="mean")
    with pytest.raises(ValueError, match="json_coords"):
        parse_answer("[[1,2,3,4]]", WH, json_coords="relative")
