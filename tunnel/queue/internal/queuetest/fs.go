package queuetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Snapshot describes every entry under dir (type, and content for files) without following
// links, so a test can show that nothing outside the queue was created, changed or deleted.
func Snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case d.Type()&fs.ModeNamedPipe != 0:
			out[rel] = "fifo"
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = "file " + info.Mode().String() + " " + hex.EncodeToString(sum[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// SameSnapshot reports every entry of before that after changed or lost, and every new one.
func SameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed from %q to %q", what, k, v, after[k])
		}
	}
	for k, v := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared (%s)", what, k, v)
		}
	}
}

// MustWrite writes a file or fails the test.
func MustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MustSymlink makes a symlink or fails the test.
func MustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// MustFIFO makes a FIFO or fails the test.
func MustFIFO(t *testing.T, p string) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReplaceWithLink swaps the queue subdirectory sub for a symlink to target. A running worker
// recreates a removed directory at once, so it retries until the link wins.
func ReplaceWithLink(t *testing.T, q, sub, target string) {
	t.Helper()
	p := filepath.Join(q, sub)
	for i := 0; ; i++ {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		err := os.Symlink(target, p)
		if err == nil {
			return
		}
		if !errors.Is(err, fs.ErrExist) || i == 100 {
			t.Fatal(err)
		}
	}
}
