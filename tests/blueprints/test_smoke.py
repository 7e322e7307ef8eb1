"""First look: the login page renders and an admin reaches the customer list."""

from tests import factories


def test_login_page_renders(client):
    """The login page is public and has a form."""
    response = client.get("/login")
    assert response.status_code == 200
    assert b'name="password"' in response.data


def test_admin_signs_in_and_sees_customers(client, login_as, db):
    """After signing in an admin sees the customers of every location."""
    berlin = factories.location("Berlin")
    factories.customer(berlin, first_name="Anna", last_name="Schmidt")
    db.session.commit()
    login_as("admin")
    response = client.get("/customers")
    assert response.status_code == 200
    assert "Schmidt, Anna" in response.get_data(as_text=True)
