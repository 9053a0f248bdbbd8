"""What the kiosk and the hub must spell alike for enrolment: one definition each."""

from __future__ import annotations

__all__ = ["REFUSAL_STATUS"]

# Each refusal the hub answers `POST /v1/enrol` with: its wire code, and the HTTP status
# it comes with (docs: contract of issue 12, README "Installing a kiosk").
REFUSAL_STATUS = {
    "unknown_code": 403,
    "expired_code": 403,
    "used_code": 409,
    "device_mismatch": 403,
    "device_taken": 409,
    "bad_request": 400,
    "bad_csr": 400,
    "not_enrolling": 503,
}
