// Package deploy holds no code: its tests validate the operating files kept
// beside it and at the repository root — docker-compose.yaml, the
// execution-host image (sshhost/), the Prometheus configuration and alert
// rules (prometheus/), the Grafana dashboard (grafana/) and the Kubernetes
// example (kubernetes/) — with the real tools (docker-compose, promtool,
// sshd, curl) and against a live /metrics of the built binary. They also
// check the root Dockerfile statically and cross-build the binary for every
// supported platform.
//
// A missing tool skips its test with the reason, unless
// CLIPBRIDGE_REQUIRE_TOOLS=1 (CI) turns the skip into a failure.
package deploy
