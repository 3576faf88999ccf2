package h2bridge

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const testNonce = "0123456789abcdef0123456789abcdef"

func TestReadyLineIsPaperclips(t *testing.T) {
	// JSON.stringify({ version: 2, type: "ready", nonce }) + "\n"
	want := `{"version":2,"type":"ready","nonce":"` + testNonce + `"}` + "\n"
	if got := string(ReadyLine(testNonce)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := string(ReadyLine("a<b&c")); got != `{"version":2,"type":"ready","nonce":"a<b&c"}`+"\n" {
		t.Fatalf("escaped: %q", got)
	}
}

// handshakeCases seed the fuzzer too.
var handshakeCases = []struct {
	name string
	in   string
	err  error  // nil: success
	rest string // on success: what follows the preface
}{
	{"exact", string(ReadyLine(testNonce)) + clientPreface + "\x00\x00\x12\x04", nil, "\x00\x00\x12\x04"},
	{"nothing after the preface yet", string(ReadyLine(testNonce)) + clientPreface, nil, ""},
	{"crlf line end", `{"version":2,"type":"ready","nonce":"` + testNonce + `"}` + "\r\n" + clientPreface, nil, ""},
	{"rc-file noise first", "Welcome to the box\n\nmotd\n" + string(ReadyLine(testNonce)) + clientPreface + "x", nil, "x"},
	{"other key order", `{"nonce":"` + testNonce + `","type":"ready","version":2}` + "\n" + clientPreface, nil, ""},
	{"version 2.0", `{"version":2.0,"type":"ready","nonce":"` + testNonce + `"}` + "\n" + clientPreface, nil, ""},
	{"wrong nonce", string(ReadyLine("ffff")) + clientPreface, ErrNonceMismatch, ""},
	{"empty nonce", string(ReadyLine("")) + clientPreface, ErrNonceMismatch, ""},
	{"version 1", `{"version":1,"type":"ready","nonce":"` + testNonce + `"}` + "\n" + clientPreface, ErrReadyInvalid, ""},
	{"version as string", `{"version":"2","type":"ready","nonce":"` + testNonce + `"}` + "\n", ErrReadyInvalid, ""},
	{"no nonce", `{"version":2,"type":"ready"}` + "\n", ErrReadyInvalid, ""},
	{"numeric nonce", `{"version":2,"type":"ready","nonce":7}` + "\n", ErrReadyInvalid, ""},
	{"extra field smuggling an address", `{"version":2,"type":"ready","nonce":"` + testNonce + `","port":1}` + "\n", ErrReadyInvalid, ""},
	{"not an object", `["ready"]` + "\n", ErrReadyInvalid, ""},
	{"trailing garbage", string(bytes.TrimSuffix(ReadyLine(testNonce), []byte("\n"))) + ` x` + "\n", ErrReadyInvalid, ""},
	{"byte between READY and preface", string(ReadyLine(testNonce)) + "\n" + clientPreface, ErrPrefaceMissing, ""},
	{"http/1 instead of the preface", string(ReadyLine(testNonce)) + "GET / HTTP/1.1\r\n\r\n", ErrPrefaceMissing, ""},
	{"preface cut short", string(ReadyLine(testNonce)) + clientPreface[:10], ErrNoReady, ""},
	{"nothing at all", "", ErrNoReady, ""},
	{"queue_v1 ready json instead", `{"pid":1,"host":"127.0.0.1","port":1}` + "\n", ErrNoReady, ""},
	{"unsupported mode and exit", "", ErrNoReady, ""},
	{"endless line", strings.Repeat("x", maxHandshakeBytes+10), ErrContaminated, ""},
	{"too much noise", strings.Repeat("noise\n", maxPreReadyBytes/6+1) + string(ReadyLine(testNonce)) + clientPreface, ErrContaminated, ""},
	{"noise up to the allowance", strings.Repeat("n", maxPreReadyBytes-1) + "\n" + string(ReadyLine(testNonce)) + clientPreface, nil, ""},
	{"overlong READY-looking line is noise", `{"type":"ready","pad":"` + strings.Repeat("p", maxReadyLineBytes) + `"}` + "\n" + string(ReadyLine(testNonce)) + clientPreface, nil, ""},
}

func TestReadHandshake(t *testing.T) {
	for _, tc := range handshakeCases {
		t.Run(tc.name, func(t *testing.T) {
			for name, r := range map[string]io.Reader{
				"whole":       strings.NewReader(tc.in),
				"byte a time": iotest.OneByteReader(strings.NewReader(tc.in)),
			} {
				rest, err := ReadHandshake(r, testNonce)
				if tc.err == nil {
					// What was read past the preface, then what is left.
					left, _ := io.ReadAll(r)
					if err != nil || string(rest)+string(left) != tc.rest {
						t.Fatalf("%s: rest %q err %v, want %q", name, rest, err, tc.rest)
					}
					continue
				}
				if !errors.Is(err, tc.err) {
					t.Fatalf("%s: err %v, want %v", name, err, tc.err)
				}
			}
		})
	}
}

// The reader never takes more than the bound from a hostile stream, and
// fails once it is reached.
func TestReadHandshakeBounded(t *testing.T) {
	src := &countingReader{r: iotest.OneByteReader(strings.NewReader(strings.Repeat("a\n", 1<<20)))}
	if _, err := ReadHandshake(src, testNonce); !errors.Is(err, ErrContaminated) {
		t.Fatalf("err %v", err)
	}
	if src.n > maxHandshakeBytes {
		t.Fatalf("read %d bytes, bound %d", src.n, maxHandshakeBytes)
	}
	// A stream that keeps going after a valid handshake is not read further.
	src = &countingReader{r: strings.NewReader(string(ReadyLine(testNonce)) + clientPreface + strings.Repeat("f", 1<<20))}
	rest, err := ReadHandshake(src, testNonce)
	if err != nil || src.n > maxHandshakeBytes || len(rest) != src.n-len(ReadyLine(testNonce))-len(clientPreface) {
		t.Fatalf("err %v, read %d, rest %d", err, src.n, len(rest))
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{
		ErrReadyInvalid: "ready_invalid", ErrNonceMismatch: "ready_nonce_mismatch", ErrPrefaceMissing: "preface_missing",
		ErrContaminated: "contaminated", ErrNoReady: "gateway_exited", ErrReadyTimeout: "ready_timeout",
		ErrPortInUse: "port_in_use", errors.New("ssh: dial refused"): "channel_open_failed",
	} {
		if got := Reason(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
