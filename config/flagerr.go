package config

import (
	"errors"
	"regexp"
)

// singleDash finds the flag package's spelling of a flag in its errors
// ("flag provided but not defined: -nosuch").
var singleDash = regexp.MustCompile(`: -([^-\s][^\s]*)`)

// FlagError rewrites a flag package parse error the way clipbridge spells
// its settings, with two dashes: an operator who typed --nosuch is told
// about --nosuch, not -nosuch.
func FlagError(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(singleDash.ReplaceAllString(err.Error(), ": --$1"))
}
