"""403, 404 and 500 are pages of the app: its layout, the reason, and a way back."""
import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_nurse_on_an_oncologist_only_page_is_told_why(nurse_client, patient):
    response = nurse_client.get(reverse("course_new", args=[patient.pk]))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Only oncologists and administrators change regimens and cycles." in html
    assert 'href="/"' in html and "Ward overview" in html and "Log out" in html  # inside the layout


def test_a_missing_page_is_a_404_inside_the_layout(nurse_client, other_patient):
    for url in ("/no/such/page/", reverse("patient", args=[other_patient.pk])):
        response = nurse_client.get(url)
        html = response.content.decode()
        assert response.status_code == 404
        assert "This page does not exist" in html and "Ward overview" in html
        assert other_patient.family_name not in html and "Traceback" not in html


@pytest.mark.urls("tests.integration.web.error_urls")
def test_a_server_error_is_our_page_not_a_traceback(nurse_client):
    nurse_client.raise_request_exception = False
    response = nurse_client.get("/broken/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and "Ward overview" in html
    assert "RuntimeError" not in html and "Traceback" not in html


def test_a_form_without_its_csrf_token_is_refused_with_a_way_back(nurse, patient):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(nurse)
    response = client.post(reverse("count_new", args=[patient.pk]), {"anc": "0.3", "unit": "10^9/L"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "This form could not be accepted" in html and "Nothing was saved." in html and "Ward overview" in html
    assert not patient.counts.exists()
