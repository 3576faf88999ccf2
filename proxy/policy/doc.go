// Package policy holds the checks that every way into the callback API
// shares, and that the upstream writer repeats before anything leaves. It
// is a leaf: the callback API (package proxy) and the in-sandbox queue
// gateway, which answers the agent on the other side of the queue, both
// import it, and it imports neither, so the gateway never builds a
// handler of its own out of proxy's parts.
//
// One concept per file:
//   - token.go: the bridge token in the Authorization header, compared in
//     constant time;
//   - target.go: the canonical origin-form request target the route
//     allowlist is written for;
//   - mediatype.go: the JSON-only body rule (multipart on the attachment
//     upload route);
//   - errors.go: the JSON error bodies agents match on, and the marker of
//     an answer whose mutation may have been applied;
//   - wellformed.go: "what net/http's parser would have produced", for
//     requests a transport builds itself.
package policy
