#!/bin/sh
# keygen.sh generates every key and token of the compose stack, once, into
# three directories (one volume each), so that each container sees only what
# it needs:
#
#   $OUT/exechost      sshd host key, authorized_keys for clipbridge's key,
#                      agent.env (the agent's PAPERCLIP_* env: bridge token)
#   $OUT/clipbridge    clipbridge's SSH private key, known_hosts pinning the
#                      exechost host key, the run token, the bridge token
#   $OUT/controlplane  the run token the stand-in control plane accepts
#
# The run token never lands in $OUT/exechost: the execution host must not be
# able to read it. Re-running keeps existing keys (delete the volumes, e.g.
# `docker-compose down -v`, to rotate them).
#
# Settings (environment), defaults for the compose stack:
#   OUT=/out                 where the three directories are created
#   EXECHOST=exechost        known_hosts host pattern (e.g. "[127.0.0.1]:2222")
#   REMOTE_LISTEN=127.0.0.1:3100
#                            the forward clipbridge asks sshd for; its key may
#                            open no other (authorized_keys permitlisten)
#   AGENT_USER=agent         owner of agent.env (when run as root)
#   CLIPBRIDGE_UID=65532     owner of clipbridge's and the control plane's files
#                            (the distroless nonroot user; when run as root)
set -eu
umask 077

OUT=${OUT:-/out}
EXECHOST=${EXECHOST:-exechost}
REMOTE_LISTEN=${REMOTE_LISTEN:-127.0.0.1:3100}
AGENT_USER=${AGENT_USER:-agent}
CLIPBRIDGE_UID=${CLIPBRIDGE_UID:-65532}

ex=$OUT/exechost
cb=$OUT/clipbridge
cp=$OUT/controlplane

if [ -s "$cb/id_ed25519" ] && [ -s "$ex/ssh_host_ed25519_key" ]; then
	echo "keygen: keys already present in $OUT, keeping them"
	exit 0
fi
mkdir -p "$ex" "$cb" "$cp"
# sshd's StrictModes wants the authorized_keys directory not writable by
# others; the volume roots are readable so each service can list its own.
chmod 755 "$ex" "$cb" "$cp"
rm -f "$ex/ssh_host_ed25519_key" "$ex/ssh_host_ed25519_key.pub" "$cb/id_ed25519" "$cb/id_ed25519.pub"

# token prints 24 random bytes as base64url without padding: the shape of
# Paperclip's bridge tokens (32 characters).
token() {
	head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

ssh-keygen -q -t ed25519 -N '' -C "exechost host key" -f "$ex/ssh_host_ed25519_key"
ssh-keygen -q -t ed25519 -N '' -C "clipbridge" -f "$cb/id_ed25519"

# restrict turns off everything (pty, agent and X11 forwarding, port
# forwarding, ~/.ssh/rc); port-forwarding turns ssh -R back on, and
# permitlisten limits it to the one address clipbridge asks for.
printf 'restrict,port-forwarding,permitlisten="%s" %s\n' "$REMOTE_LISTEN" "$(cat "$cb/id_ed25519.pub")" >"$ex/authorized_keys"
chmod 644 "$ex/authorized_keys"

printf '%s %s\n' "$EXECHOST" "$(cut -d' ' -f1,2 "$ex/ssh_host_ed25519_key.pub")" >"$cb/known_hosts"

run_token=$(token)
bridge_token=$(token)
printf '%s\n' "$run_token" >"$cb/run-token"
printf '%s\n' "$run_token" >"$cp/run-token"
printf '%s\n' "$bridge_token" >"$cb/bridge-token"
# What a launcher would export for the agent (the ready line's env).
printf 'PAPERCLIP_API_URL=http://%s\nPAPERCLIP_API_KEY=%s\nPAPERCLIP_API_BRIDGE_MODE=queue_v1\n' \
	"$REMOTE_LISTEN" "$bridge_token" >"$ex/agent.env"

if [ "$(id -u)" = 0 ]; then
	chown -R "$CLIPBRIDGE_UID:$CLIPBRIDGE_UID" "$cb" "$cp"
	if id "$AGENT_USER" >/dev/null 2>&1; then
		chown "$AGENT_USER" "$ex/agent.env"
	else
		echo "keygen: user $AGENT_USER does not exist; agent.env stays root's" >&2
	fi
fi
echo "keygen: wrote keys and tokens to $OUT"
echo "keygen: exechost host key $(ssh-keygen -l -f "$ex/ssh_host_ed25519_key.pub" | cut -d' ' -f2)"
