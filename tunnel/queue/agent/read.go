package agent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// command is one command line split into fields, with its payload (P), or the read error that
// ends the agent.
type command struct {
	f       []string
	payload []byte
	err     error
}

// read parses stdin into commands; a P command's payload and trailer are read with it.
func (a *agent) read(r *bufio.Reader) {
	send := func(c command) bool {
		select {
		case a.cmds <- c:
			return c.err == nil
		case <-a.done:
			return false
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			send(command{err: err})
			return
		}
		c := command{f: strings.Fields(line)}
		if len(c.f) >= 5 && c.f[0] == "P" {
			n, perr := strconv.Atoi(c.f[4])
			if perr != nil || n < 0 || n > 1<<30 {
				send(command{err: fmt.Errorf("bad payload length %q", c.f[4])})
				return
			}
			c.payload = make([]byte, n)
			if _, err := io.ReadFull(r, c.payload); err != nil {
				send(command{err: err})
				return
			}
			if t, err := r.ReadString('\n'); err != nil || t != "end\n" {
				send(command{err: errors.New("torn response payload")})
				return
			}
		}
		if !send(c) {
			return
		}
	}
}
