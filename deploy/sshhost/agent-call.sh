#!/bin/sh
# agent-call does what an agent on the execution host does first: GET
# /api/agents/me through the tunnel with the bridge token, the only
# credential it has. Usage: agent-call [PATH] (default /api/agents/me).
#
# The env comes from $AGENT_ENV_FILE (default /keys/agent.env), written the
# way a launcher writes clipbridge's --env-file. The token goes to curl on
# stdin (-K -), never in its argv, so `ps` on this host cannot show it.
set -eu
env_file=${AGENT_ENV_FILE:-/keys/agent.env}
path=${1:-/api/agents/me}
set -a
. "$env_file"
set +a
printf 'header = "Authorization: Bearer %s"\n' "$PAPERCLIP_API_KEY" |
	curl --silent --show-error --fail-with-body --max-time 10 -K - "$PAPERCLIP_API_URL$path"
echo
