def test_a_rate_reads_as_a_percentage_in_the_readers_format():
    from django.utils import translation

    from fidele.ui.formatting import format_rate

    with translation.override("fr"):
        assert format_rate(0.219) == "21,9\u00a0%"
        assert format_rate(0.0015) == "0,15\u00a0%"
    with translation.override("en"):
        assert format_rate(0.219) == "21.9%"
    assert format_rate(None) == ""


def test_a_language_code_reads_as_its_name_in_the_readers_language():
    from django.utils import translation

    from fidele.ui.formatting import format_language

    with translation.override("fr"):
        assert format_language("nl") == "Néerlandais"
    with translation.override("en"):
        assert format_language("fr") == "French"
    assert format_language("xx") == "xx" and format_language("") == ""
