// Package proxy is clipbridge's callback API: the one http.Handler every
// transport (local listener, SSH remote forward, queue_v1 worker) serves.
//
// Every rule of the bridge lives here and nowhere else: the bridge-token
// check, request-target canonicalisation, the route allowlist, the in-flight
// limit, the JSON-only body rule, request and response body caps, the header
// allowlists in both directions, and the swap of the bridge token for the
// run's real credential before the request is forwarded upstream.
package proxy
