"""The local stack: every Vexil process on 127.0.0.1, no AWS account needed.

``vexil dev up`` starts moto_server, creates the shared resources, starts ``chalice
local``, the stream worker, nginx (the CDN stand-in) and the OFREP edge server;
``vexil dev down`` stops exactly those processes. See :mod:`vexil.devstack.stack`.
"""
