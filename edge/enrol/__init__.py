"""Enrolment, the kiosk's side: the code an installer scans, and the request to the hub."""
