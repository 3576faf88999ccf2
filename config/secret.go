package config

import "log/slog"

// Secret holds a credential. It prints as REDACTED through fmt, %v, JSON
// and slog, so a Config can be logged or dumped without leaking it; the
// value is reachable only through Reveal.
type Secret struct{ v string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the secret value. Call it only where the value is sent
// to its one legitimate destination.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s Secret) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return "REDACTED" }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalText implements encoding.TextMarshaler, for JSON and friends.
func (s Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }
