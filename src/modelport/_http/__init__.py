"""The HTTP layer: error mapping, stream decoders, retry policy, URLs and the I/O twins."""
