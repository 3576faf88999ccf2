package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports;
// reading it properly would need sysconf(3) and so cgo.
const clockTick = 10 * time.Millisecond

// procTree is one or more processes and everything below them: nginx's
// workers, sshd's per-connection children. CPU and memory are summed
// over the tree.
type procTree struct {
	roots []int
}

func tree(roots ...int) procTree { return procTree{roots: roots} }

// empty reports a tree with no process: the direct case.
func (p procTree) empty() bool { return len(p.roots) == 0 }

// pids returns the roots and their live descendants.
func (p procTree) pids() []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil && len(f) > 1 {
			if ppid, err := strconv.Atoi(f[1]); err == nil {
				children[ppid] = append(children[ppid], pid)
			}
		}
	}
	out := append([]int(nil), p.roots...)
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// cpu returns the user+system CPU time consumed so far by the tree's
// live processes. Children that already exited are not counted, so
// callers measure across runs that keep the same processes (true of
// every proxy here: nginx workers, sshd sessions and ssh clients live as
// long as the case).
func (p procTree) cpu() time.Duration {
	var ticks int64
	for _, pid := range p.pids() {
		f, err := statFields(pid)
		if err != nil || len(f) < 13 {
			continue
		}
		// After the command name: state(0) ppid(1) ... utime(11) stime(12).
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * clockTick
}

// memory sums a /proc/<pid>/status field (in kB) over the tree, in bytes:
// "VmHWM" for the peak resident set, "VmRSS" for the current one. Summed
// peaks are an upper bound when the processes peaked at different times.
func (p procTree) memory(field string) int64 {
	var total int64
	for _, pid := range p.pids() {
		total += statusKB(pid, field) << 10
	}
	return total
}

// statFields returns /proc/<pid>/stat split after the command name.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	return parseStat(string(b))
}

// parseStat splits a /proc/<pid>/stat line after the command name, which
// is parenthesised and may itself hold spaces or parentheses: fields are
// counted from the last ')'. The first returned field is the state.
func parseStat(s string) ([]string, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed stat line %q", s)
	}
	return strings.Fields(s[i+1:]), nil
}

func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return parseStatusKB(string(b), field)
}

// parseStatusKB finds "field:   123 kB" in /proc/<pid>/status text and
// returns the number, or 0.
func parseStatusKB(text, field string) int64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil || kb < 0 {
			return 0
		}
		return kb
	}
	return 0
}
