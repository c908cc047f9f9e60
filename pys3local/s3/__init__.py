"""The S3 protocol layer: routing, authentication, body decoding, XML and errors."""
