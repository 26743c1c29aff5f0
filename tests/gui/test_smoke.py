from tests.gui.conftest import open_and_wait


def test_open_png(qtbot, window, films):
    prediction = open_and_wait(qtbot, window, films["png8"])
    assert prediction.accepted
