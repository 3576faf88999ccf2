// Package testsupport holds the small helpers that clipbridge's tests in
// many packages need alike: a buffer that concurrent writers can share, a
// free loopback port, a poll with a bound, a GET that returns what came
// back, and an upstream that records what reached it. Helpers that belong
// to one area stay there (the queue's in tunnel/queue/internal/queuetest,
// the SSH servers in internal/sshserver and internal/realsshd).
//
// It imports nothing from clipbridge, so any package's tests can use it.
package testsupport
