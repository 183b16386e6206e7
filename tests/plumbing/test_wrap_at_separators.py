from plumbing.templatetags.opslog import wrap_at_separators


def test_a_name_may_wrap_after_each_separator_and_nowhere_else():
    """#15.6: "payments-gateway.eu_west" may break after -, ., _ and /, never inside "payments"."""
    assert wrap_at_separators("payments-gateway.eu_west/v2") == "payments-<wbr>gateway.<wbr>eu_<wbr>west/<wbr>v2"
    assert wrap_at_separators("payments") == "payments"


def test_the_name_is_escaped_before_the_breaks_go_in():
    assert wrap_at_separators('<b onclick="x">a-b</b>') == "&lt;b onclick=&quot;x&quot;&gt;a-<wbr>b&lt;/<wbr>b&gt;"
