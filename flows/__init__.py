"""Prefect flows, the CLI and the demo: thin wiring over models/, interpreter/, storage/.

Offline-friendly Prefect defaults (a user's own settings win): no usage telemetry, whose failed
network calls only add error lines here, and a startup timeout long enough for the temporary
server on a small machine (~20 s on 2 cores with a fresh PREFECT_HOME).
"""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
