package queue

// The co-process protocol: how the host worker operates a queue directory on the execution host
// through one long-lived process there, so no list, wait, read, write or remove costs a remote
// exec (Paperclip's worker pays one exec, i.e. one ssh handshake, per operation). Two programs
// serve it: a POSIX shell script the worker ships with every start (worker/coproc_script.go) and,
// where the clipbridge binary is on the host, `clipbridge queue-agent` (package agent). The
// worker's client (worker/coproc.go) cannot tell them apart.
//
// The host writes one command per line; the co-process answers with zero or more data lines and
// one status line starting with ':' (`:<code> <text>`, see the Coproc* codes). Neither request
// names (filtered by ValidName) nor base64 output can contain ':', so framing is exact.
//
//	W <ms> [skip…]    wait up to ms for a request file not in skip, then list:  N <name>… :0
//	R <name> <n>      the first n bytes of requests/<name>, base64 lines:        … :0 | :2 missing
//	P <name> <g> <r> <n> <t|b>  then n raw bytes and "end\n": write responses/<name>
//	                  (guarded on the request when g=1; then remove it when r=1; t = the
//	                  payload has no NUL byte, so bash may read it with a builtin)  :0 wrote|gone|exists
//	D <name>          remove requests/<name>                                     :0
//	S                 sweep dead writers' locks and temp files                  :0
//	(empty line)      wakes a W early; otherwise ignored
//
// On startup the co-process answers `:0 hello <bash> <gnuhead> <epoch>`: whether W is wakeable
// by an empty line (bash's `read -t`, and the agent; other shells poll with `sleep` and the host
// keeps their waits short), whether a counted payload of any size can be read inline (GNU `head
// -c`, and the agent; otherwise `dd bs=1` does, slowly, and the host sends large responses
// through a separate exec instead), and the host clock for the createdAt skew estimate. EOF on
// stdin ends the co-process.

// One-shot mode is the same protocol for runners that cannot stream (the relay to a sandbox
// provider's execute, an exec prefix that reads all of stdin first): each exec is a whole
// co-process life, with stdin given up front and the output read at the end. Stdin is a batch of
// D, S and R lines and at most one P, last, whose payload is the rest of stdin (n bytes, no
// "end" trailer); after answering them the co-process runs the one L that EnvOnceLook holds, and
// exits:
//
//	L <ms> <total> <each> [skip…]  wait up to ms for a request file not in skip (never woken
//	                  by stdin, which is at its end), then list every request as W does
//	                  (N <name>), and for each one not in skip of at most each bytes, while
//	                  the running total stays within total, its content: C <name> and base64
//	                  lines                                                       … :0
//
// L also renews LeaseFile (see env.go). Data lines with a space are headers (N, C), lines
// without one are base64 (which has no space).
// So one exec delivers a response, waits for the agent's next request and returns it whole: a
// call costs at most one exec, and an idle queue one exec per long poll. `clipbridge queue-agent
// --once` serves it with inotify; the shell's one-shot script polls with `sleep`.

// EnvOnceLook holds the one-shot mode's L command: `<ms> <total> <each> [skip…]`. Empty means
// no L: the batch is only answered.
const EnvOnceLook = "CB_LOOK"

// Status codes of a co-process status line. The shell script writes the same numbers as
// literals; the agent and the worker's client use these names.
const (
	CoprocOK          = 0 // success
	CoprocMissing     = 2 // R: the request file is gone, or is not a regular file
	CoprocLockTimeout = 4 // P: the response lock never freed (Paperclip's message follows)
	CoprocFailed      = 5 // P, D or S failed
	CoprocTorn        = 6 // P: the payload was not followed by "end"; the co-process exits
	CoprocRefused     = 7 // a queue directory is a symlink; the text names it for the log
	CoprocListFailed  = 8 // W: the listing failed
	CoprocFatal       = 9 // the queue cannot be prepared, an unknown command or an invalid name
)
