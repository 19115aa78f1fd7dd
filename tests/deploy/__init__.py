"""Deployment checks: provider registration, connection hooks, docker-compose."""

from __future__ import annotations
