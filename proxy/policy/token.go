package policy

import (
	"crypto/subtle"
	"strings"
)

// BridgeTokenMatches reports whether an Authorization header value carries
// the bridge token. The scheme must be exactly "Bearer " (case and single
// space, as Paperclip's gateway checks it). Lengths are compared first,
// which leaks only the token's length (fixed at 32 characters for
// generated tokens); the bytes are compared in constant time.
func BridgeTokenMatches(header, token string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" || len(got) != len(token) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
