"""The hub as the kiosks' enrolment authority.

An installer asks the hub for a one-time code (`codes`), the kiosk sends it with a
certificate signing request to the hub's HTTPS endpoint (`server`, `request`), and the
hub signs the kiosk's certificate with its CA (`ca`), records it (`registry`) and
rewrites the broker's ACL and CRL (`broker_files`) so the new kiosk may publish under
its own id only and read its own store's streams. `enroller` holds the rules that tie
these together; `terminal_qr` draws the code for the installer's phone-less scan.
"""
