"""Request bodies the tests send: webhook payloads exactly as each sender documents them, a valid
deploy for the deploys API, and the XSS vectors (xss_vectors.txt)."""
