"""The one exception the wire codecs raise."""


class WireError(ValueError):
    """Malformed or unsupported bytes on input, or impossible fields on output.

    Input paths catch exactly this and count a drop; anything else escaping a codec is a bug.
    """
