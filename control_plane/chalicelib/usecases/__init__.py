"""The control plane's use cases, one module per resource.

Every use case is a module-level function whose first argument is the :class:`~.base.Ctx`
(storage, clock, KMS) and, when it writes or depends on who asks, whose second is the
:class:`~.base.Call` (who, why). Routes in ``app.py`` call them exactly that way:
``projects.create_project(req.ctx, req.call, req.body)``. Change requests
(:mod:`chalicelib.approvals`) and API tokens (:mod:`chalicelib.tokens`) follow the same shape.

Modules:

* :mod:`.base` — what they all share: ``Ctx``, ``Call``, ``Approved``, ``NeedsApproval``, the
  commit seam (:func:`.base.commit`), item lookups, the 404/412 helpers;
* :mod:`.projects` — projects and environments (and refusals recorded in a protected chain);
* :mod:`.sdk_keys` — SDK keys of an environment;
* :mod:`.flag_definitions` — flag definitions (shared by every environment of a project);
* :mod:`.flag_configs` — a flag's configuration in one environment: put, history, restore,
  promote;
* :mod:`.segments` — segments of an environment: create, replace, delete;
* :mod:`.audit_log` — reading and verifying an audit chain;
* :mod:`.impact` — the dry run: a proposed configuration evaluated against a sample.
"""
