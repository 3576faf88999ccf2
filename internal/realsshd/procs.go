package realsshd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// descendants returns every process below root, found by walking the PPid
// links in /proc.
func descendants(root int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out, nil
}

// parentOf reads the parent pid from /proc/PID/stat. The command name is in
// parentheses and may itself contain spaces or parentheses, so fields are
// counted from the last ')'.
func parentOf(pid int) (int, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// servingPIDs finds the processes below root holding the server-side socket
// of the TCP connection between 127.0.0.1:port and client.
func servingPIDs(root, port int, client net.Addr) ([]int, error) {
	ca, ok := client.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("realsshd: %v is not a TCP address", client)
	}
	inode, err := socketInode(port, ca)
	if err != nil {
		return nil, err
	}
	pids, err := descendants(root)
	if err != nil {
		return nil, err
	}
	want := "socket:[" + inode + "]"
	var out []int
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && link == want {
				out = append(out, pid)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// socketInode looks the connection up in /proc/net/tcp, whose addresses are
// hex in host byte order: "0100007F:0016" is 127.0.0.1:22.
func socketInode(port int, client *net.TCPAddr) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	local := procAddr(net.IPv4(127, 0, 0, 1), port)
	remote := procAddr(client.IP, client.Port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[1] != local || fields[2] != remote {
			continue
		}
		return fields[9], nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("realsshd: no connection from %s to port %d in /proc/net/tcp", client, port)
}

func procAddr(ip net.IP, port int) string {
	v4 := ip.To4()
	if v4 == nil {
		return ""
	}
	// The kernel prints the address bytes as one native-endian word.
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(v4), port)
}
