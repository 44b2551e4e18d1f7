"""The pool member agent: a management or gateway server's leases, the targets it should
run now (``agent``), its ``GET /assignment`` (``server``) and its trust store
(``trust_store``)."""

from engine.member.agent import Assignment, MemberSettings, PoolMember
from engine.member.server import serve_assignment
from engine.member.trust_store import fingerprints

__all__ = ["Assignment", "MemberSettings", "PoolMember", "fingerprints", "serve_assignment"]
