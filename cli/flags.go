package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/clipbridge/clipbridge/config"
)

// subcommandFlags parses the flags of a small subcommand (health,
// standin, status) the way every clipbridge command treats its command
// line: --help prints the usage on stdout and exits 0; a bad flag or a
// stray argument is reported once on stderr, spelled with two dashes,
// and exits 2. It returns the exit status to use and false when the
// command must not go on.
func subcommandFlags(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) (int, bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stdout, synopsis)
		writeFlagDefaults(stdout, fs)
		return exitOK, false
	case err != nil:
		fmt.Fprintf(stderr, "clipbridge %s: %v (see clipbridge %s --help)\n", fs.Name(), config.FlagError(err), fs.Name())
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "clipbridge %s: unexpected argument %q (see clipbridge %s --help)\n", fs.Name(), fs.Arg(0), fs.Name())
		return exitUsage, false
	}
	return exitOK, true
}

// writeFlagDefaults lists a flag set's settings with two dashes, as
// config.Help lists serve's.
func writeFlagDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%s\n        %s%s\n", f.Name, strings.ReplaceAll(f.Usage, "\n", "\n        "), def)
	})
}

// noArguments refuses arguments to a command that takes none.
func noArguments(cmd string, args []string, help string, stdout, stderr io.Writer) (int, bool) {
	if len(args) == 0 {
		return exitOK, true
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fmt.Fprint(stdout, help)
		return exitOK, false
	}
	fmt.Fprintf(stderr, "clipbridge %s: takes no arguments, got %q (see clipbridge %s --help)\n", cmd, args[0], cmd)
	return exitUsage, false
}
