"""Roles, permissions and the principal a token stands for.

Roles (least privilege: a token sees only the projects/environments listed on it; ``"*"``
means all):

* ``admin``   — everything, everywhere (its scope lists are ignored);
* ``editor``  — read, and write flags, segments and change requests in its scope;
  project-level flag-definition writes need ``environments: ["*"]`` (they change every env);
* ``viewer``  — read in its scope (never the audit log);
* ``auditor`` — read, read the audit log and verify chains in its scope; the global chain
  needs ``projects: ["*"]``.

The role × route matrix is generated from the route table into docs/roles.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.errors import Forbidden

ROLES = ("admin", "editor", "viewer", "auditor")
ANY = "*"


class Perm(StrEnum):
    """What a route needs."""

    PUBLIC = "public"  # no token at all
    SELF = "self"  # any valid token
    READ = "read"  # read projects/envs/flags/segments/keys/CRs in scope
    WRITE = "write"  # change flags/segments/CRs in scope
    ADMIN = "admin"  # projects, environments, SDK keys, tokens
    AUDIT = "audit"  # read and verify the audit log in scope
    SDK_KEY = "sdk_key"  # no token: the route checks an environment's SDK key (insights)


ROLE_PERMS: dict[str, frozenset[Perm]] = {
    "admin": frozenset(Perm) - {Perm.SDK_KEY},  # no token opens an SDK-key route
    "editor": frozenset({Perm.PUBLIC, Perm.SELF, Perm.READ, Perm.WRITE}),
    "viewer": frozenset({Perm.PUBLIC, Perm.SELF, Perm.READ}),
    "auditor": frozenset({Perm.PUBLIC, Perm.SELF, Perm.READ, Perm.AUDIT}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller (a token), never its secret."""

    token_id: str
    name: str
    role: str
    projects: tuple[str, ...]
    environments: tuple[str, ...]

    @property
    def actor(self) -> dict[str, str]:
        """How the audit log names this caller."""
        return {"token_id": self.token_id, "name": self.name}

    def sees_project(self, project: str) -> bool:
        """True when the project is in this token's scope."""
        return self.role == "admin" or ANY in self.projects or project in self.projects

    def sees_environment(self, environment: str) -> bool:
        """True when the environment is in this token's scope."""
        return self.role == "admin" or ANY in self.environments or environment in self.environments

    def allowed(self, perm: Perm, project: str | None = None, environment: str | None = None,
                *, all_environments: bool = False) -> bool:
        """Whether this caller may do ``perm`` on the project/environment given."""
        if perm not in ROLE_PERMS.get(self.role, frozenset()):
            return False
        if self.role == "admin" or perm in (Perm.PUBLIC, Perm.SELF):
            return True
        if project is None:
            # Unscoped resources (the global audit chain): only all-project tokens.
            return perm is Perm.READ or ANY in self.projects
        if not self.sees_project(project):
            return False
        if environment is not None and not self.sees_environment(environment):
            return False
        return not (all_environments and ANY not in self.environments)

    def require(self, perm: Perm, project: str | None = None, environment: str | None = None,
                *, all_environments: bool = False) -> None:
        """Raise :class:`Forbidden` unless :meth:`allowed`."""
        if not self.allowed(perm, project, environment, all_environments=all_environments):
            where = "/".join(x for x in (project, environment) if x) or "global"
            raise Forbidden(
                f"role {self.role!r} of token {self.token_id} may not {perm} on {where}"
            )
