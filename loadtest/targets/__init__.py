"""Real services to validate models against (``qmodel validate --target``): a WSGI app
whose handler does a known amount of work (``work``), served by gunicorn (``gunicorn``)."""
