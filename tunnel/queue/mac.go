package queue

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"slices"
)

// macContext starts every MAC input, so a MAC made for this purpose can never be mistaken for
// any other use of the bridge token.
const macContext = "clipbridge queue_v1 request mac v1"

// writeMACInput writes the canonical byte encoding the envelope MAC covers to w. Every field is
// written as a 4-byte big-endian length followed by its bytes, in this order:
//
//	macContext, id, method, path, query,
//	the number of headers (4-byte big-endian), then for each header sorted by name: name, value,
//	bodyEncoding ("" when absent), body (the envelope's string, i.e. base64 text when encoded),
//	createdAt.
//
// Length prefixes make the encoding unambiguous (no field can spill into the next), and covering
// id and createdAt lets the worker refuse replays: a copied envelope either keeps its id (already
// seen) or changes it (MAC fails), and it ages out by its signed createdAt. The fields go
// straight into the hash, so checking the MAC of a large envelope copies none of its body.
func writeMACInput(w io.Writer, r *Request) {
	var n [4]byte
	field := func(s string) {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		w.Write(n[:])
		io.WriteString(w, s)
	}
	field(macContext)
	field(r.ID)
	field(r.Method)
	field(r.Path)
	field(r.Query)
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	slices.Sort(names)
	binary.BigEndian.PutUint32(n[:], uint32(len(names)))
	w.Write(n[:])
	for _, k := range names {
		field(k)
		field(r.Headers[k])
	}
	field(r.BodyEncoding)
	field(r.Body)
	field(r.CreatedAt)
}

// macInput is writeMACInput's encoding as bytes (tests pin it).
func macInput(r *Request) []byte {
	var b bytes.Buffer
	writeMACInput(&b, r)
	return b.Bytes()
}

// Sign sets r.MAC to the lower-case hex HMAC-SHA256 of writeMACInput's encoding of r, keyed by
// the bridge token.
func (r *Request) Sign(token []byte) {
	m := hmac.New(sha256.New, token)
	writeMACInput(m, r)
	r.MAC = hex.EncodeToString(m.Sum(nil))
}

// VerifyMAC reports whether r carries a valid MAC for token, compared in constant time.
func (r *Request) VerifyMAC(token []byte) bool {
	got, err := hex.DecodeString(r.MAC)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, token)
	writeMACInput(m, r)
	return hmac.Equal(got, m.Sum(nil))
}
