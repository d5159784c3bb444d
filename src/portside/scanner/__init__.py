"""Image analysis with no Django: read an image's layers, find the software in each, and
review the image against good practice. Used by the store's scanning context and by
`portside scan` on an image file with no server."""
