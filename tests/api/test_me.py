def test_me_describes_the_token_owner(call_as, clinician):
    response = call_as(clinician, ["clinical:read"]).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(clinician.id),
        "email": clinician.email,
        "role": "clinician",
        "display_name": clinician.display_name,
    }


def test_me_needs_a_token(anonymous):
    response = anonymous.get("/api/v1/me/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"
