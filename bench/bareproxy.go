package main

import (
	"bufio"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// bareProxyRole turns the harness binary into the "Go floor": the least a
// Go program does to forward the bench's GETs (net/http's request and
// response parsers, a bearer check, the credential swap, pooled upstream
// connections) and nothing else: no route allowlist, header filtering,
// limits, timeouts, metrics or log. It is not a usable proxy. It is in the
// table to separate what the Go runtime costs from what clipbridge's own
// per-request work costs, next to nginx.
const bareProxyRole = "bare-proxy"

func runBareProxy() error {
	p := &bareProxy{
		upstream: os.Getenv("CLIPBRIDGE_BENCH_UPSTREAM"),
		want:     []byte("Bearer " + os.Getenv("CLIPBRIDGE_BENCH_BRIDGE_TOKEN")),
		head: "Host: " + os.Getenv("CLIPBRIDGE_BENCH_UPSTREAM") +
			"\r\nAuthorization: Bearer " + os.Getenv("CLIPBRIDGE_BENCH_RUN_TOKEN") +
			"\r\nX-Paperclip-Run-Id: " + os.Getenv("CLIPBRIDGE_BENCH_RUN_ID") + "\r\n\r\n",
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go p.serve(c)
	}
}

type bareProxy struct {
	upstream, head string
	want           []byte
	mu             sync.Mutex
	idle           []*bareUp
}

type bareUp struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (p *bareProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4<<10)
	bw := bufio.NewWriterSize(c, 32<<10)
	buf := make([]byte, 32<<10)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.ContentLength != 0 || subtle.ConstantTimeCompare([]byte(req.Header.Get("Authorization")), p.want) != 1 {
			_, _ = bw.WriteString("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
			_ = bw.Flush()
			return
		}
		if err := p.forward(req, bw, buf); err != nil {
			return
		}
		// Pipelined requests share one write.
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

func (p *bareProxy) forward(req *http.Request, bw *bufio.Writer, buf []byte) error {
	u, err := p.get()
	if err != nil {
		return err
	}
	_, _ = u.bw.WriteString(req.Method + " " + req.RequestURI + " HTTP/1.1\r\n" + p.head)
	if err := u.bw.Flush(); err != nil {
		u.c.Close()
		return err
	}
	resp, err := http.ReadResponse(u.br, req)
	if err != nil || resp.ContentLength < 0 {
		u.c.Close()
		return errors.Join(err, errors.New("bare proxy: no response of known length"))
	}
	_, _ = bw.WriteString("HTTP/1.1 " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode) +
		"\r\nContent-Type: " + resp.Header.Get("Content-Type") +
		"\r\nContent-Length: " + strconv.FormatInt(resp.ContentLength, 10) + "\r\n\r\n")
	if _, err := io.CopyBuffer(bw, resp.Body, buf); err != nil {
		u.c.Close()
		return err
	}
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
	return nil
}

func (p *bareProxy) get() (*bareUp, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		u := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return nil, err
	}
	return &bareUp{c: c, br: bufio.NewReaderSize(c, 32<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// startBareProxy re-executes the harness in the bare-proxy role.
func startBareProxy(upstream string, s secrets) (*target, error) {
	start := time.Now()
	cmd, addr, err := startRole(bareProxyRole, "CLIPBRIDGE_BENCH_UPSTREAM="+upstream,
		"CLIPBRIDGE_BENCH_BRIDGE_TOKEN="+s.bridgeToken, "CLIPBRIDGE_BENCH_RUN_TOKEN="+s.runToken,
		"CLIPBRIDGE_BENCH_RUN_ID="+s.runID)
	if err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	return &target{base: "http://" + addr, auth: "Bearer " + s.bridgeToken,
		proc: tree(cmd.Process.Pid), startup: time.Since(start), stop: stop}, nil
}
