package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// ParseSize reads a byte size: a plain integer, or an integer with a
// binary (KiB, MiB, GiB) or decimal (KB, MB, GB) suffix, optionally
// followed by "B". It must be positive and fit an int64.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, errors.New("want a positive byte count such as 10551296 or 10MiB")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive byte count such as 10551296 or 10MiB")
	}
	if n > (1<<62)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

// ParseDuration reads a positive Go duration ("30s", "1m30s", "250ms").
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, errors.New("want a positive duration such as 30s or 250ms")
	}
	return d, nil
}

// ParseCount reads a positive integer.
func ParseCount(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive integer")
	}
	return n, nil
}
