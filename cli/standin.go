package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/clipbridge/clipbridge/config"
	"github.com/clipbridge/clipbridge/standin"
)

// runStandin serves the demo's stand-in control plane on its own, for the
// compose stack and for trying a launcher without a real Paperclip. It
// accepts only the run token and run id it is given, like the demo's.
func runStandin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:3100", "address to serve on")
	if code, ok := subcommandFlags(fs, `Usage: clipbridge standin [--listen host:port]

Serves a stand-in Paperclip API that accepts only CLIPBRIDGE_RUN_TOKEN (or
the file named by CLIPBRIDGE_RUN_TOKEN_FILE) and CLIPBRIDGE_RUN_ID.`, args, stdout, stderr); !ok {
		return code
	}
	token := getenv("CLIPBRIDGE_RUN_TOKEN")
	if f := getenv("CLIPBRIDGE_RUN_TOKEN_FILE"); token == "" && f != "" {
		t, err := config.ReadTokenFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "clipbridge standin: CLIPBRIDGE_RUN_TOKEN_FILE %q: %v\n", f, err)
			return exitUsage
		}
		token = t
	}
	runID := getenv("CLIPBRIDGE_RUN_ID")
	if token == "" || runID == "" {
		fmt.Fprintln(stderr, "clipbridge standin: CLIPBRIDGE_RUN_TOKEN (or CLIPBRIDGE_RUN_TOKEN_FILE) and CLIPBRIDGE_RUN_ID are required")
		return exitUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "clipbridge standin: --listen %s: %v\n", *listen, err)
		return exitFailure
	}
	srv := &http.Server{Handler: standin.New(token, runID), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	fmt.Fprintf(stderr, "clipbridge standin: serving a stand-in Paperclip API on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "clipbridge standin: %v\n", err)
		return exitFailure
	}
	return exitOK
}
