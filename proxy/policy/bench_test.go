package policy

import "testing"

// Hot-path microbenchmarks, with allocation counts, so a regression shows
// in review: go test -run XXX -bench . -benchmem ./proxy/policy

const benchToken = "bridge-token-ABCDEFGHIJKLMNOPQRSTUV"

func BenchmarkBridgeTokenMatches(b *testing.B) {
	h := "Bearer " + benchToken
	b.ReportAllocs()
	for b.Loop() {
		BridgeTokenMatches(h, benchToken)
	}
}

func BenchmarkParseTarget(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = ParseTarget("/api/issues/issue-1234/comments?view=compact&limit=50")
	}
}
