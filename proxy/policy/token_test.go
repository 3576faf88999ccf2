package policy

import "testing"

func TestBridgeTokenMatches(t *testing.T) {
	const token = "bridge-token-ABCDEFGHIJKLMNOPQRSTUV"
	cases := []struct {
		name, header, token string
		want                bool
	}{
		{"exact", "Bearer " + token, token, true},
		{"no header", "", token, false},
		{"lower-case scheme", "bearer " + token, token, false},
		{"two spaces", "Bearer  " + token, token, false},
		{"other scheme", "Basic " + token, token, false},
		{"shorter", "Bearer " + token[:len(token)-1], token, false},
		{"longer", "Bearer " + token + "x", token, false},
		{"same length, other bytes", "Bearer " + token[:len(token)-1] + "W", token, false},
		{"empty token never matches", "Bearer ", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := BridgeTokenMatches(c.header, c.token); got != c.want {
				t.Fatalf("BridgeTokenMatches(%q, %q) = %v, want %v", c.header, c.token, got, c.want)
			}
		})
	}
}
