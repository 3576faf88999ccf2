package h2bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// clientPreface opens every HTTP/2 client connection (RFC 9113 §3.4). The
// gateway writes it right after its READY line, with no byte between.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// readyVersion is the frame version Paperclip's READY line carries.
const readyVersion = 2

// Handshake bounds. Everything before the preface comes from the sandbox,
// so none of it may grow without limit.
const (
	// maxPreReadyBytes bounds output tolerated before the READY line. A
	// login shell's rc file may print a line or two over SSH (bash reads
	// ~/.bashrc even for a command); anything bigger is not a gateway.
	maxPreReadyBytes = 4096
	// maxReadyLineBytes bounds the READY line: {"version":2,"type":"ready",
	// "nonce":"<32 hex>"} is 76 bytes.
	maxReadyLineBytes = 512
	// maxHandshakeBytes is the most ReadHandshake ever reads: the largest
	// noise, the largest READY line, its newline and the preface. Any
	// input that long either completed the handshake or failed it.
	maxHandshakeBytes = maxPreReadyBytes + maxReadyLineBytes + 1 + len(clientPreface)
)

// Why a handshake failed; each maps to a bounded metric label (Reason).
var (
	ErrReadyInvalid   = errors.New("the READY line is not a valid READY frame")
	ErrNonceMismatch  = errors.New("the READY line carries another nonce")
	ErrPrefaceMissing = errors.New("the HTTP/2 client preface does not follow the READY line")
	ErrContaminated   = errors.New("too much output before the READY line")
	ErrNoReady        = errors.New("the gateway's output ended before its READY line")
	ErrReadyTimeout   = errors.New("no READY line in time")
	ErrPortInUse      = errors.New("the gateway could not bind its port")
)

// Reason is the metric label of a handshake or open error.
func Reason(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{ErrReadyInvalid, "ready_invalid"},
		{ErrNonceMismatch, "ready_nonce_mismatch"},
		{ErrPrefaceMissing, "preface_missing"},
		{ErrContaminated, "contaminated"},
		{ErrNoReady, "gateway_exited"},
		{ErrReadyTimeout, "ready_timeout"},
		{ErrPortInUse, "port_in_use"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "channel_open_failed"
}

// readyFrame is the READY line's one shape: exactly these three fields.
type readyFrame struct {
	Version int    `json:"version"`
	Type    string `json:"type"`
	Nonce   string `json:"nonce"`
}

// ReadyLine is the one line the gateway writes before HTTP/2 starts,
// byte for byte what Paperclip's gateway writes (JSON.stringify with the
// fields in this order, then a newline).
func ReadyLine(nonce string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // JSON.stringify does not escape <, > or &
	_ = enc.Encode(readyFrame{Version: readyVersion, Type: "ready", Nonce: nonce})
	return b.Bytes() // Encode ends it with "\n"
}

// ReadHandshake reads the gateway's output until the READY line for nonce
// and the client preface right after it have arrived. It returns the
// bytes it read past the preface (the start of the client's first
// frames), to be served before the rest of r. It reads at most
// maxHandshakeBytes, so the sandbox cannot make it buffer more; the
// caller bounds the time (the read blocks until r yields).
//
// Lines before the READY line that do not mention "ready" are tolerated
// up to maxPreReadyBytes (see there); a line that does must be a valid
// READY frame with this nonce, and the preface must follow it at once.
func ReadHandshake(r io.Reader, nonce string) ([]byte, error) {
	buf := make([]byte, 0, maxHandshakeBytes)
	for {
		end, err := scanHandshake(buf, nonce)
		switch {
		case err != nil:
			return nil, err
		case end >= 0:
			return buf[end:], nil
		case len(buf) == cap(buf):
			return nil, ErrContaminated // unreachable: scanHandshake decides within the bound
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr != nil {
			if end, err := scanHandshake(buf, nonce); err != nil || end >= 0 {
				if err != nil {
					return nil, err
				}
				return buf[end:], nil
			}
			if errors.Is(rerr, io.EOF) {
				return nil, ErrNoReady
			}
			return nil, errors.Join(ErrNoReady, rerr)
		}
	}
}

// scanHandshake decides on the bytes read so far: the offset just past
// the preface once the handshake is complete, -1 when it needs more, or
// an error when no further byte could make it valid. Its answer depends
// only on the bytes, never on how they were split into reads: once it is
// not -1 for a prefix, it is the same for every longer input. It needs at
// most maxHandshakeBytes to decide.
//
// A line is a READY candidate when it is at most maxReadyLineBytes long
// and mentions "ready"; it must then be valid. Any other line is noise,
// and noise must end within maxPreReadyBytes.
func scanHandshake(buf []byte, nonce string) (int, error) {
	off := 0
	for {
		nl := bytes.IndexByte(buf[off:], '\n')
		if nl < 0 {
			// An unfinished line. Too long to be a READY line, it is noise,
			// and noise that has already run past the allowance fails.
			if n := len(buf) - off; n > maxReadyLineBytes && off+n+1 > maxPreReadyBytes {
				return 0, ErrContaminated
			}
			return -1, nil
		}
		line := buf[off : off+nl]
		if len(line) > maxReadyLineBytes || !bytes.Contains(line, []byte(`"ready"`)) {
			off += nl + 1
			if off > maxPreReadyBytes {
				return 0, ErrContaminated
			}
			continue
		}
		if err := checkReady(line, nonce); err != nil {
			return 0, err
		}
		p := off + nl + 1
		got := buf[p:min(len(buf), p+len(clientPreface))]
		if !bytes.HasPrefix([]byte(clientPreface), got) {
			return 0, ErrPrefaceMissing
		}
		if len(got) < len(clientPreface) {
			return -1, nil
		}
		return p + len(clientPreface), nil
	}
}

// checkReady validates one READY line as Paperclip's host does: a JSON
// object of exactly version 2, type "ready" and a string nonce, and the
// nonce must be the one this open passed.
func checkReady(line []byte, nonce string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil || len(fields) != 3 {
		return ErrReadyInvalid
	}
	var f struct {
		Version *float64
		Type    *string
		Nonce   *string
	}
	for key, dst := range map[string]any{"version": &f.Version, "type": &f.Type, "nonce": &f.Nonce} {
		raw, ok := fields[key]
		if !ok || json.Unmarshal(raw, dst) != nil {
			return ErrReadyInvalid
		}
	}
	if f.Version == nil || *f.Version != readyVersion || f.Type == nil || *f.Type != "ready" || f.Nonce == nil {
		return ErrReadyInvalid
	}
	if *f.Nonce != nonce {
		return ErrNonceMismatch
	}
	return nil
}
