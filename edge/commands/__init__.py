"""Commands the platform sends a kiosk, signed by the hub: verified, then run.

Wire format, on `borne/v1/devices/{device}/cmd/{name}` (QoS 1, an MQTT 5 message expiry):
the JSON `{"command": "<base64 of the canonical JSON>", "signature": "<base64 Ed25519>"}`,
the signed JSON being `{"name", "device", "issued_at", "expires_at", "nonce", "args"}`
(times in Unix seconds; canonical: sorted keys, no spaces, UTF-8). The signature covers
the exact bytes carried, so the kiosk checks it before it reads anything of them.

The kiosk (`receiver.CommandReceiver`, attached to the uplink) runs a command only when
it is signed by the key of `[commands] verify_key_file`, names this device and the
topic's command, is neither expired nor issued too far ahead of the kiosk's clock, and
its nonce was never seen (the nonces are kept on disk until well past their expiry, so a
replay after a reboot is refused too). Every refusal is a `CommandRefused` with its
reason, counted, logged and reported as an event; nothing of a refused command is run.

The hub signs with `wire.sign_command` (`borne hub command`).
"""
