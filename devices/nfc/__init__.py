"""NFC: loyalty cards and staff badges read with nfcpy, and a simulated card peer."""
