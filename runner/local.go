package runner

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// LocalOptions configures NewLocal.
type LocalOptions struct {
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
	// Registerer receives clipbridge_runner_execs_total; nil registers nothing.
	Registerer prometheus.Registerer
}

// Local runs commands on this machine with os/exec. Env goes into the child's environment (never
// argv), on top of the few variables LocalAllowlist lets it inherit from this process.
type Local struct {
	execs prometheus.Counter
}

var _ Runner = (*Local)(nil)

// NewLocal returns a local runner.
func NewLocal(opts LocalOptions) *Local {
	return &Local{execs: execCounter(opts.Registerer, "local")}
}

// Name implements Runner.
func (*Local) Name() string { return "local" }

func (l *Local) command(c Command) osCommand {
	argv := c.Args
	if c.Script != "" {
		argv = []string{"sh", "-c", c.Script}
	}
	return osCommand{argv: argv, env: ChildEnv(os.Environ(), LocalAllowlist, c.Env), dir: c.Dir, stdin: c.Stdin}
}

// Run implements Runner.
func (l *Local) Run(ctx context.Context, c Command) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	l.execs.Inc()
	return l.command(c).run(ctx, c)
}

// Start implements Runner.
func (l *Local) Start(ctx context.Context, c Command) (Process, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	l.execs.Inc()
	return l.command(c).start(ctx, nil)
}
