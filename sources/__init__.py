"""Where the raw data comes from, in plain Python (no Beam import; `pipelines.download` wraps it).

`layouts` (each source's URLs, names and checksum rules), `listing` (HTML index and S3 listing parsers),
`plan` (listing -> files to fetch), `httpclient` (polite, host-confined HTTP), `checksums`, `fetch` (one file:
skip, resume, verify, name) and `localmirror` (a local stand-in for NCBI and the PMC Cloud Service).
"""
