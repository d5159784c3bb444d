"""The OCI image and distribution formats as plain Python: no Django, no I/O.

``errors`` holds the distribution API's error codes as exception types, ``digest`` content
digests and hashing, ``reference`` the repository name and tag grammar, ``mediatypes`` the
media types Portside knows, and ``manifest`` the parsing and validation of image manifests
and indexes. The registry translates between HTTP and these modules; the scanner and the
command line reuse them without a server.
"""
