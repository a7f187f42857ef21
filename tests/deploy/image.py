"""The container image under test, when WHOKNOWS_IMAGE names one (`make test-image`).

The production smoke test then starts the image's own command and runs its `whoknows`
command in containers (podman), as the Helm chart runs them: the image's user, a read-only
root filesystem with a writable /tmp, the configuration and the signing key mounted
read-only. The host's network is shared, so the test's PostgreSQL and osmem-server on
127.0.0.1 are reached at the addresses the configuration names. Without WHOKNOWS_IMAGE the
test runs gunicorn and the CLI of the venv running pytest.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IMAGE", "Container"]

#: the image to run, or None
IMAGE = os.environ.get("WHOKNOWS_IMAGE") or None


@dataclass(frozen=True)
class Container:
    """Command lines for one deployment of `image`: `folder` (the configuration, the key,
    the data to import) is mounted at the same path, `env` is the containers' environment."""

    image: str
    folder: Path
    env: dict[str, str]
    name: str = field(default_factory=lambda: f"whoknows-smoke-{uuid.uuid4().hex[:10]}")

    def _options(self) -> list[str]:
        # U: the folder is handed to the image's user, as Kubernetes does with a mounted
        # Secret (fsGroup); the signing key is mode 0600
        options = ["--network=host", "--read-only", "-v", f"{self.folder}:{self.folder}:ro,U"]
        for name, value in self.env.items():
            options += ["-e", f"{name}={value}"]
        return options

    def serve(self, port: int) -> list[str]:
        """The API as the image starts it: its own command (CMD), listening on `port`. Its
        output is the container's alone: podman's own complaints are left out (without
        systemd it logs that it cannot time the image's HEALTHCHECK; `healthcheck` runs it)."""
        return ["podman", "--log-level=fatal", "run", "--rm", "--name", self.name,
                *self._options(), "-e", f"PORT={port}", self.image]

    def healthcheck(self) -> list[str]:
        """The image's HEALTHCHECK, once, in the serving container (exits 0 when healthy)."""
        return ["podman", "healthcheck", "run", self.name]

    def job(self, *args: str) -> list[str]:
        """`whoknows ARGS` in a container of its own (the chart's Jobs and CronJobs)."""
        return ["podman", "run", "--rm", *self._options(), self.image, "whoknows", *args]

    def exec(self, *args: str) -> list[str]:
        """`whoknows ARGS` in the serving container (`kubectl exec`)."""
        return ["podman", "exec", self.name, "whoknows", *args]

    def remove(self) -> None:
        """Remove the serving container, stopped or not."""
        subprocess.run(["podman", "rm", "--force", "--time=0", "--ignore", self.name],
                       capture_output=True, timeout=60, check=False)
