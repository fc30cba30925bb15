"""One file per pipeline stage, named after its asset; each is thin glue around the layers below."""
