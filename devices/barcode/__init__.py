"""Camera barcodes: capture backends, the decoders, and GS1 interpretation."""
