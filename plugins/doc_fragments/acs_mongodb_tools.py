# Copyright: Airflow Crawler System contributors
# Apache License 2.0
"""Documentation of module_utils/acs_common.mongodb_tools_argspec(), shared by
mongodb_backup and mongodb_restore (extends_documentation_fragment), together
with acs_backup_store (signing_key, s3)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
requirements:
  - pymongo >= 4.0
  - boto3 (only with I(s3))
  - docker (Python SDK, only with I(method=docker))
options:
  uri:
    description: MongoDB connection string, without credentials (see I(login_user)).
    type: str
    default: mongodb://127.0.0.1:27017
  login_user:
    description: User name merged into I(uri) and I(container_uri).
    type: str
  login_password:
    description: Password merged into I(uri) and I(container_uri).
    type: str
  method:
    description:
      - Where the tools (mongodump, mongorestore) run.
      - C(auto) picks the tools on this host, then the tools in I(container), then a
        one-off container on I(network), then native.
      - C(host) runs the tools found on this host (I(tools_dir) or C(PATH));
        C(mongodump) is its old name, kept as an alias.
      - C(docker) needs I(container) or I(network).
      - C(native) uses pymongo and the engine's own archive code.
    type: str
    choices: [auto, host, mongodump, docker, native]
    default: auto
  container:
    description:
      - Name of the mongodb container, for I(method=docker) or I(method=auto); the tools
        run in it through C(docker exec).
      - Mutually exclusive with I(network) and I(image).
    type: str
  network:
    description:
      - The stack network, for example C(airflow-crawler-system_backend). The tools run
        in a one-off container attached to it, against the mongodb service by name
        (see I(container_uri)); archives stream out to the host or are copied in
        before the container starts, and the container is removed afterwards, also
        when the run fails.
      - Needs I(method=docker) or I(method=auto). Mutually exclusive with I(container).
    type: str
  image:
    description:
      - Image of the one-off container; it must have mongodump and mongorestore.
      - Default is the image of the running C(mongodb) service container on
        I(network) (its compose service label), the stack's mongodb image.
      - Requires I(network).
    type: str
  container_uri:
    description:
      - Connection string the tools use inside the container; I(login_user) is merged in
        too.
      - Default C(mongodb://localhost:27017) with I(container), C(mongodb://mongodb:27017)
        (the service by name) with I(network).
    type: str
  tools_dir:
    description: Directory holding mongodump and mongorestore.
    type: path
  lock_timeout:
    description:
      - Seconds to wait when another backup or restore holds I(backup_dir) (the API,
        the backup DAG or another play); C(0) fails at once, naming the one running.
      - A backup and a restore never run at once in one backup directory.
    type: float
    default: 0
"""
