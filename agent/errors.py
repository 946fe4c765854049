"""The agent's exceptions, beneath the project's one root."""

from __future__ import annotations

from agent.contract.errors import SchoolnetError


class AgentError(SchoolnetError):
    """Root of every exception the agent (its probes included) raises on purpose."""
