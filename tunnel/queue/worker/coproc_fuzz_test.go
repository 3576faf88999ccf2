package worker

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzCoprocReply parses arbitrary co-process output. The execution host
// is the agent's side of the trust boundary, so whatever its shell (or a
// compromised queue-agent) prints, the host worker must return, keep the
// data it collects within maxData, and hand back whole lines only.
func FuzzCoprocReply(f *testing.F) {
	f.Add([]byte("N a.json\nN b.json\n:0\n"), uint16(1<<10))
	f.Add([]byte("eyJ2IjoxfQ==\n:0\n"), uint16(64))
	f.Add([]byte(":2 missing\n"), uint16(0))
	f.Add([]byte(":x bad\n"), uint16(0))
	f.Add([]byte("no status line"), uint16(16))
	f.Add(bytes.Repeat([]byte("A"), 100), uint16(8))
	f.Add(append(bytes.Repeat([]byte("A"), 40), "\n:0\n"...), uint16(64))
	f.Fuzz(func(t *testing.T, out []byte, maxData uint16) {
		// bufio's smallest buffer, so long lines take the gathering path.
		c := &coproc{out: bufio.NewReaderSize(bytes.NewReader(out), 16)}
		code, text, data, err := c.reply(int(maxData))
		if err != nil {
			return
		}
		total := 0
		for _, d := range data {
			if bytes.ContainsAny(d, "\n") {
				t.Fatalf("data line %q holds a newline", d)
			}
			total += len(d)
		}
		if total > int(maxData) {
			t.Fatalf("%d data bytes collected, limit %d", total, maxData)
		}
		if !bytes.Contains(out, []byte(":")) {
			t.Fatalf("status %d %q without a status line in %q", code, text, out)
		}
	})
}
