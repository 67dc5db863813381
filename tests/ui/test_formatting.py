def test_a_rate_reads_as_a_percentage_in_the_readers_format():
    from django.utils import translation

    from fidele.ui.formatting import format_rate

    with translation.override("fr"):
        assert format_rate(0.219) == "21,9\u00a0%"
        assert format_rate(0.0015) == "0,15\u00a0%"
    with translation.override("en"):
        assert format_rate(0.219) == "21.9%"
    assert format_rate(None) == ""
