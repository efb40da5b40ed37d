"""Built artefacts, proven: the wheels in fresh virtualenvs, the Lambda zips in a bare
interpreter. (Not ``tests/packaging``: pytest puts ``tests/`` on sys.path, and a package
of that name would shadow the ``packaging`` library for the whole session.)"""
