"""The platform's side of the link: `borne hub`."""
