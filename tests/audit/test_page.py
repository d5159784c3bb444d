"""The store team's audit page: one line per event, whose long cells keep their whole
text where the table shows only its start."""

import re

import pytest

from portside.audit import services as audit
from portside.audit.templatetags.audit import detail_pairs, model_name, pairs_text
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_details_read_as_one_line_of_keys_and_values():
    pairs = detail_pairs({"store_role": "admin", "scopes": ["read", "write"], "note": None})
    assert pairs_text(pairs) == "store role: admin · scopes: read, write · note: —"
    assert pairs_text([]) == ""


def test_the_kind_of_target_is_named_without_its_app():
    assert model_name("accounts.organization") == "organization"
    assert model_name("webhook") == "webhook"


def test_each_event_is_one_row_with_its_whole_text_in_titles(client):
    admin = make_user("root", store_role="admin")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    long_note = "a note that is far longer than the column " * 4
    audit.record(admin, "test:row:made", admin, ip_address="10.0.0.9", note=long_note)
    page = client.get("/staff/audit/", {"action": "test:"}).content.decode()
    rows = re.findall(r"<tr>\s*<td class=\"num\">.*?</tr>", page, re.DOTALL)
    assert len(rows) == 1
    row = rows[0]
    assert '<td title="test:row:made"><code class="action">test:<wbr>row:<wbr>made</code>' in row
    assert 'title="accounts.user root"' in row
    assert '<span class="muted">user</span> root' in row
    assert f'title="note: {long_note}"' in row
    assert f"<dt>note</dt><dd>{long_note}</dd>" in row
    assert 'title="10.0.0.9"' in row
    # The page may be read with long cells in full, with no script.
    assert 'id="audit-wrap"' in page


def test_the_table_scrolls_in_a_box_that_keys_can_reach(client):
    admin = make_user("root", store_role="admin")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/staff/audit/").content.decode()
    assert re.search(
        r'<div class="table-box" role="region" aria-labelledby="audit-caption" tabindex="0">', page
    )
    assert '<caption id="audit-caption"' in page
