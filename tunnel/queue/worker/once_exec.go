package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clipbridge/clipbridge/runner"
	"github.com/clipbridge/clipbridge/tunnel/queue"
)

// exec runs one batch: lines (D, S, R, and a P last, whose payload follows), then the L in
// look when it is not empty. It returns the replies it got, in order, also when it fails part
// way (a P answered before the L failed still counts).
func (s *onceStore) exec(ctx context.Context, lines []string, payload []byte, look string) (onceResult, error) {
	var stdin bytes.Buffer
	for _, l := range lines {
		stdin.WriteString(l + "\n")
	}
	stdin.Write(payload)
	env := map[string]string{
		"CB_SCRIPT":                      onceScript,
		"CB_Q":                           s.dir,
		queue.EnvQueueDir:                s.dir,
		queue.EnvOnceLook:                look,
		"CB_SLEEP_MS":                    strconv.Itoa(onceSleepMS),
		"CB_SLEEP_S":                     fmt.Sprintf("%.3f", float64(onceSleepMS)/1000),
		"CB_IDLE_MS":                     strconv.Itoa(onceIdleMS),
		"CB_IDLE_S":                      fmt.Sprintf("%.3f", float64(onceIdleMS)/1000),
		"PAPERCLIP_SANDBOX_EXEC_CHANNEL": "bridge",
	}
	if look == "" {
		delete(env, queue.EnvOnceLook)
	}
	if s.agentBin != "" {
		env["CB_BIN"] = s.agentBin
	}
	timeout := s.opTimeout
	maxOut := 64 << 10
	for _, l := range lines {
		if n, ok := readLength(l); ok {
			maxOut += int(4*(n+3)/3) + 4096
		}
	}
	if look != "" {
		ms, _ := strconv.ParseInt(strings.Fields(look)[0], 10, 64)
		timeout += time.Duration(ms) * time.Millisecond
		maxOut += 4*(onceLookTotal+3)/3 + onceLookTotal/57*2 + 256<<10
	}
	res, err := s.run.Run(ctx, runner.Command{Script: onceLauncher, Env: env, Stdin: &stdin, Timeout: timeout, MaxOutputBytes: maxOut})
	if err != nil {
		return onceResult{}, err
	}
	if res.StdoutTruncated {
		return onceResult{}, fmt.Errorf("one-shot co-process output exceeds %d bytes", maxOut)
	}
	out, err := s.parse(bytes.NewReader(res.Stdout), lines, look != "")
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("one-shot co-process exited with status %d", res.ExitCode)
	}
	if err != nil {
		if res.TimedOut {
			err = fmt.Errorf("%w (timed out after %v)", err, timeout)
		}
		if detail := strings.TrimSpace(string(res.Stderr)); detail != "" {
			err = fmt.Errorf("%w: %s", err, truncate(detail, 512))
		}
	}
	return out, err
}

// readLength is n of an "R <name> <n>" line.
func readLength(line string) (int64, bool) {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "R" {
		return 0, false
	}
	n, err := strconv.ParseInt(f[2], 10, 64)
	return n, err == nil && n >= 0
}

// parse reads an exec's output: the hello, a reply per line, then the L listing.
func (s *onceStore) parse(r *bytes.Reader, lines []string, looked bool) (onceResult, error) {
	out := bufio.NewReaderSize(r, 64<<10)
	var res onceResult
	code, text, _, err := readReply(out, 0)
	if err == nil && code != queue.CoprocOK {
		err = errors.New(text)
	}
	if err != nil {
		return res, fmt.Errorf("start: %w", err)
	}
	if f := strings.Fields(text); len(f) == 4 && f[0] == "hello" {
		if epoch, err := strconv.ParseInt(f[3], 10, 64); err == nil {
			s.offset.Store(int64(time.Unix(epoch, 0).Sub(time.Now().Truncate(time.Second))))
		}
	} else {
		return res, fmt.Errorf("unexpected greeting %q", text)
	}
	for _, l := range lines {
		maxData := 0
		if n, ok := readLength(l); ok {
			maxData = int(4*(n+3)/3) + 4096
		}
		code, text, data, err := readReply(out, maxData)
		if err != nil {
			return res, err
		}
		res.replies = append(res.replies, onceReply{code: code, text: text, data: data})
	}
	if !looked {
		return res, nil
	}
	code, text, data, err := readReply(out, 4*(onceLookTotal+3)/3+onceLookTotal/57*2+256<<10)
	if err != nil {
		return res, err
	}
	if code != queue.CoprocOK {
		return res, errors.New(text)
	}
	res.looked, res.contents = true, map[string][]byte{}
	var cur string
	var enc [][]byte
	flush := func() error {
		if cur == "" {
			return nil
		}
		b, err := decodeBase64Lines(enc)
		if err != nil {
			return fmt.Errorf("decode %s: %w", cur, err)
		}
		if len(b) <= onceLookEach {
			res.contents[cur] = b
		}
		cur, enc = "", nil
		return nil
	}
	for _, d := range data {
		head, name, isHeader := strings.Cut(string(d), " ")
		if !isHeader {
			if cur != "" {
				enc = append(enc, d)
			}
			continue
		}
		if err := flush(); err != nil {
			return res, err
		}
		if !queue.ValidName(name) {
			continue
		}
		switch head {
		case "N":
			res.names = append(res.names, name)
		case "C":
			cur = name
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	slices.Sort(res.names)
	return res, nil
}

// decodeBase64Lines decodes base64 that arrives in lines (of any width).
func decodeBase64Lines(lines [][]byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(string(bytes.Join(lines, nil)))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
