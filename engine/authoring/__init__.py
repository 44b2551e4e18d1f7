"""Configuration authoring on central: declarative files, plans, imports."""

from engine.authoring.declaration import (
    Declaration,
    DeclarationError,
    Group,
    Host,
    Poller,
    Service,
    Site,
    dump_declaration,
    load_declaration,
)
from engine.authoring.plan import Current, Plan, PlanError, plan
from engine.authoring.validation import validate

__all__ = [
    "Current",
    "Declaration",
    "DeclarationError",
    "Group",
    "Host",
    "Plan",
    "PlanError",
    "Poller",
    "Service",
    "Site",
    "dump_declaration",
    "load_declaration",
    "plan",
    "validate",
]
