package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
)

// macContext starts every MAC input, so a MAC made for this purpose can never be mistaken for
// any other use of the bridge token.
const macContext = "clipbridge queue_v1 request mac v1"

// macInput is the canonical byte encoding the envelope MAC covers. Every field is written as a
// 4-byte big-endian length followed by its bytes, in this order:
//
//	macContext, id, method, path, query,
//	the number of headers (4-byte big-endian), then for each header sorted by name: name, value,
//	bodyEncoding ("" when absent), body (the envelope's string, i.e. base64 text when encoded),
//	createdAt.
//
// Length prefixes make the encoding unambiguous (no field can spill into the next), and covering
// id and createdAt lets the worker refuse replays: a copied envelope either keeps its id (already
// seen) or changes it (MAC fails), and it ages out by its signed createdAt.
func macInput(r *Request) []byte {
	var b []byte
	field := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
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
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, k := range names {
		field(k)
		field(r.Headers[k])
	}
	field(r.BodyEncoding)
	field(r.Body)
	field(r.CreatedAt)
	return b
}

// Sign sets r.MAC to the lower-case hex HMAC-SHA256 of macInput(r), keyed by the bridge token.
func (r *Request) Sign(token []byte) {
	m := hmac.New(sha256.New, token)
	m.Write(macInput(r))
	r.MAC = hex.EncodeToString(m.Sum(nil))
}

// VerifyMAC reports whether r carries a valid MAC for token, compared in constant time.
func (r *Request) VerifyMAC(token []byte) bool {
	got, err := hex.DecodeString(r.MAC)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, token)
	m.Write(macInput(r))
	return hmac.Equal(got, m.Sum(nil))
}
