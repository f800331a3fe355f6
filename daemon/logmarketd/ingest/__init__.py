"""Records in: the socket server, frames, the durable inbox, --watch, redaction at the door."""
