package h2bridge

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadHandshake feeds the READY/preface reader arbitrary gateway
// output in arbitrary read sizes. It must never panic, never read past
// its bound, give the same answer however the bytes are split, and
// succeed only when the exact READY line for the nonce is followed at
// once by the client preface.
func FuzzReadHandshake(f *testing.F) {
	for _, tc := range handshakeCases {
		f.Add([]byte(tc.in), uint8(1))
		f.Add([]byte(tc.in), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole := &countingReader{r: bytes.NewReader(data)}
		rest, err := ReadHandshake(whole, testNonce)
		if whole.n > maxHandshakeBytes {
			t.Fatalf("read %d bytes, bound %d", whole.n, maxHandshakeBytes)
		}
		split := &countingReader{r: &stepReader{r: bytes.NewReader(data), step: int(step%64) + 1}}
		rest2, err2 := ReadHandshake(split, testNonce)
		if (err == nil) != (err2 == nil) || (err != nil && Reason(err) != Reason(err2)) {
			t.Fatalf("answer depends on read sizes: %v vs %v", err, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrReadyInvalid) && !errors.Is(err, ErrNonceMismatch) && !errors.Is(err, ErrPrefaceMissing) &&
				!errors.Is(err, ErrContaminated) && !errors.Is(err, ErrNoReady) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		consumed := whole.n - len(rest)
		if !bytes.HasSuffix(data[:consumed], []byte(clientPreface)) {
			t.Fatalf("success without the preface right before %d", consumed)
		}
		head := data[:consumed-len(clientPreface)]
		lines := bytes.Split(bytes.TrimSuffix(head, []byte("\n")), []byte("\n"))
		if checkReady(lines[len(lines)-1], testNonce) != nil {
			t.Fatalf("success without a valid READY line: %q", lines[len(lines)-1])
		}
		if !bytes.Equal(rest, data[consumed:whole.n]) {
			t.Fatal("rest is not what followed the preface")
		}
		consumed2 := split.n - len(rest2)
		if consumed2 != consumed || !bytes.Equal(rest2, data[consumed:split.n]) {
			t.Fatalf("consumed %d vs %d", consumed, consumed2)
		}
	})
}

// stepReader hands out at most step bytes per Read.
type stepReader struct {
	r    io.Reader
	step int
}

func (s *stepReader) Read(p []byte) (int, error) {
	return s.r.Read(p[:min(len(p), s.step)])
}
