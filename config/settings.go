package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// setting is one configurable value: a flag, a CLIPBRIDGE_* variable, a
// default, and how to store it. The table of settings is the single source
// for parsing, precedence and --help.
type setting struct {
	flag    string // flag name without dashes; "" for env-only secrets
	env     string
	def     string
	usage   string
	secret  bool // the value is a credential: never echoed in errors or help
	boolean bool
	set     func(c *Config, v string) error
}

// source records where a setting's value came from, for error messages.
type source struct{ name, value string }

func (s source) String() string { return s.name }

// flagValue is a flag.Value that remembers whether it was given.
type flagValue struct {
	v       string
	given   bool
	boolean bool
}

func (f *flagValue) String() string     { return f.v }
func (f *flagValue) Set(v string) error { f.v, f.given = v, true; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.boolean }

// resolve applies the precedence defaults < env < flags to every setting
// and stores the results in c, collecting one error per bad value. Each
// error names the setting (flag and env) and the value, except for
// secrets, whose values are never repeated.
func resolve(c *Config, settings []setting, fs *flag.FlagSet, values map[string]*flagValue, getenv func(string) string) []error {
	var errs []error
	for _, s := range settings {
		v, from := s.def, "default"
		if s.env != "" {
			if e := getenv(s.env); e != "" {
				v, from = e, s.env
			}
		}
		if fv, ok := values[s.flag]; ok && fv.given {
			v, from = fv.v, "--"+s.flag
		}
		if s.boolean && v == "" {
			v = "false"
		}
		if err := s.set(c, v); err != nil {
			shown := fmt.Sprintf("%q", v)
			if s.secret {
				shown = "(value hidden)"
			}
			errs = append(errs, fmt.Errorf("%s %s (from %s): %v", describe(s), shown, from, err))
		}
	}
	return errs
}

// describe names a setting the way a user can set it.
func describe(s setting) string {
	switch {
	case s.flag != "" && s.env != "":
		return "--" + s.flag + "/" + s.env
	case s.flag != "":
		return "--" + s.flag
	}
	return s.env
}

// register adds a flag for every setting that has one.
func register(fs *flag.FlagSet, settings []setting) map[string]*flagValue {
	values := map[string]*flagValue{}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		fv := &flagValue{boolean: s.boolean}
		values[s.flag] = fv
		fs.Var(fv, s.flag, s.usage)
	}
	return values
}

// writeHelp lists every setting with its env name and default.
func writeHelp(w io.Writer, cmd, synopsis string, settings []setting) {
	fmt.Fprintf(w, "Usage: clipbridge %s\n\nSettings (a flag wins over its environment variable):\n", synopsis)
	for _, s := range settings {
		name := "(env only)"
		if s.flag != "" {
			name = "--" + s.flag
			if !s.boolean {
				name += " VALUE"
			}
		}
		def := s.def
		switch {
		case def == "" && s.boolean:
			def = "false"
		case def == "":
			def = "none"
		}
		fmt.Fprintf(w, "  %-30s %s\n  %-30s env %s, default %s\n", name, s.usage, "", s.env, def)
	}
	_ = cmd
	fmt.Fprintln(w, strings.TrimSpace(`
Secrets (run token, bridge token, SSH key) are read from the environment or a
file, never from a flag value, because argv is visible to every local user.`))
}
