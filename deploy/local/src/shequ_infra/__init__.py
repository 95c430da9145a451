"""Real PostgreSQL, Kafka and Keycloak as local processes, for `make run` and the tests.

One driver both use: ``running_infrastructure()`` starts the three on free loopback ports with
data in a temporary directory, waits until each is healthy, and stops everything on exit.
"""

from shequ_infra.processes import ComponentFailedError
from shequ_infra.stack import LocalInfrastructure, running_infrastructure

__all__ = ["ComponentFailedError", "LocalInfrastructure", "running_infrastructure"]
