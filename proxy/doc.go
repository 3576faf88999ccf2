// Package proxy is clipbridge's callback API: the one http.Handler every
// transport (local listener, SSH remote forward, queue_v1 worker) serves.
//
// Every rule of the bridge is applied here: the bridge-token check,
// request-target canonicalisation, the route allowlist, the in-flight
// limit, the JSON-only body rule, request and response body caps, the
// header allowlists in both directions, and the swap of the bridge token
// for the run's real credential before the request is forwarded upstream.
// The checks that the in-sandbox queue gateway repeats before anything
// reaches the queue (token, target, content type, error bodies) are stated
// once in the leaf package proxy/policy, which both import.
package proxy
